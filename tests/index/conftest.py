"""Fixtures for index tests: small multi-language repositories in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import git, make_repo

SHOP = '''\
"""A tiny shop."""

TAX_RATE = 0.2


class Cart:
    """A shopping cart."""

    def __init__(self):
        self.items = []

    def add_item(self, name, price):
        self.items.append((name, price))

    def total_price(self):
        return sum(price for _, price in self.items)


def apply_discount(total, percent):
    """Reduce total by percent."""
    return total * (1 - percent / 100)
'''

INVOICE = '''\
from shop import Cart, apply_discount


def invoice_tax(cart: Cart, percent: float) -> float:
    """Tax of an invoice after discount."""
    return apply_discount(cart.total_price(), percent) * 0.2


def render_invoice(cart):
    return f"total: {cart.total_price()}"
'''

README = "# Shop\n\nA shop that sells things and computes invoices.\n"


@pytest.fixture
def shop_repo(tmp_path: Path) -> Path:
    """A committed repository with two Python modules and a README."""
    return make_repo(
        tmp_path / "shop", {"shop.py": SHOP, "invoice.py": INVOICE, "README.md": README}
    )


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """An index directory of the test's own."""
    return tmp_path / "index"


def commit_all(repo: Path, message: str = "change") -> str:
    """Commit everything in ``repo``; returns the new commit id."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()
