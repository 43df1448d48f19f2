"""Verification: run tests in a sandbox, read their outcomes from junit XML, guard the tests.

- :class:`~patchloop.verify.pytest_runner.PytestRunner` implements the ``TestRunner`` seam.
- :func:`~patchloop.verify.feedback.render_failures` turns a report into prompt feedback.
- :func:`~patchloop.verify.guard.check_patch` rejects patches that change tests or test config.
"""

from __future__ import annotations

from patchloop.verify.feedback import render_failures
from patchloop.verify.guard import check_patch, is_protected_path, is_test_path
from patchloop.verify.pytest_runner import PytestRunner

__all__ = [
    "PytestRunner",
    "check_patch",
    "is_protected_path",
    "is_test_path",
    "render_failures",
]
