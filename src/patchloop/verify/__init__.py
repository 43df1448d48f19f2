"""Verification: run tests in a sandbox, read their outcomes from a report, guard the tests.

- :class:`~patchloop.verify.pytest_runner.PytestRunner` implements the ``TestRunner`` seam.
- :func:`~patchloop.verify.feedback.render_failures` turns a report into prompt feedback.
- :func:`~patchloop.verify.guard.check_patch` rejects patches that change tests or test config.
- :func:`~patchloop.verify.flaky.find_flaky` runs the baseline k times and finds flaky tests.
- :class:`~patchloop.verify.plan.VerificationPlan` selects the tests a patch must run, with the
  :class:`~patchloop.verify.cache.ResultCache` of outcomes keyed by test dependencies.
- :func:`~patchloop.verify.labels.label_report` labels a run (passed ... infrastructure).
"""

from __future__ import annotations

from patchloop.verify.cache import ResultCache
from patchloop.verify.deps import TestDependencies, TreeDigest
from patchloop.verify.feedback import render_failures
from patchloop.verify.flaky import FlakeReport, classify_flakes, find_flaky
from patchloop.verify.guard import check_patch, is_protected_path, is_test_path
from patchloop.verify.labels import RunLabel, RunVerdict, label_report
from patchloop.verify.plan import Stage, VerificationPlan
from patchloop.verify.pytest_runner import PytestRunner

__all__ = [
    "FlakeReport",
    "PytestRunner",
    "ResultCache",
    "RunLabel",
    "RunVerdict",
    "Stage",
    "TestDependencies",
    "TreeDigest",
    "VerificationPlan",
    "check_patch",
    "classify_flakes",
    "find_flaky",
    "is_protected_path",
    "is_test_path",
    "label_report",
    "render_failures",
]
