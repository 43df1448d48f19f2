"""Fixtures: the real bubblewrap sandbox, required unless explicitly waived."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from patchloop.sandbox.bwrap import BwrapSandbox
from tests.sandbox._support import require_bwrap


@pytest.fixture(scope="module")
def bwrap() -> Iterator[BwrapSandbox]:
    require_bwrap()
    sandbox = BwrapSandbox()
    yield sandbox
    sandbox.close()
