"""Helpers shared by the sandbox and verify tests: the bubblewrap requirement."""

from __future__ import annotations

import os

import pytest

from patchloop.sandbox.bwrap import bwrap_works

#: Set to 1 to skip (instead of fail) the tests that need bubblewrap on a machine without it.
OPT_OUT = "SANDBOX_TESTS_WITHOUT_BWRAP"


def require_bwrap() -> None:
    """Fail (or skip, when opted out) unless bubblewrap can start a sandbox here."""
    why = bwrap_works()
    if why is None:
        return
    if os.environ.get(OPT_OUT) == "1":
        pytest.skip(f"{why} ({OPT_OUT}=1)")
    pytest.fail(
        f"{why}: these tests need bubblewrap (apt-get install bubblewrap, with unprivileged "
        f"user namespaces enabled); set {OPT_OUT}=1 to skip them instead",
        pytrace=False,
    )
