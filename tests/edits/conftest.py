"""Fixtures for the edits tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.edits.helpers import init_repo, write

CART = '''\
"""Shopping cart."""


def total(items):
    return sum(item.price for item in items)


def count(items):
    return len(items)


class Cart:
    def __init__(self):
        self.items = []

    def add(self, item):
        self.items.append(item)
        return self
'''


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git work tree with ``shop/cart.py`` (not committed)."""
    root = init_repo(tmp_path / "repo")
    write(root, "shop/cart.py", CART)
    return root
