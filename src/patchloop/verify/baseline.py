"""The baseline of a repair: the suite run k times on the untouched snapshot plus one run with
per-test coverage, and what that decides for verification (flaky tests, the test plan).

The coverage run reuses :func:`patchloop.localize.spectrum.collect_coverage` (the same run the
fault localizer reads), so one run serves localization, test selection and the result cache.
It is not one of the k compared runs: its outcomes come from another plugin, which reports
collection errors differently, and tracing can change timing.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from patchloop.domain import Limits, TestReport, TestSelection
from patchloop.errors import PatchloopError
from patchloop.localize.spectrum import CoverageMap, collect_coverage
from patchloop.protocols import Sandbox, TestRunner
from patchloop.verify.flaky import DEFAULT_RUNS, FlakeReport, classify_flakes
from patchloop.verify.pytest_runner import PytestRunner

__all__ = ["Baseline", "run_baseline"]

log = logging.getLogger("patchloop.verify")


@dataclass
class Baseline:
    """What the baseline runs found."""

    report: TestReport
    """The first run (the runner's own report): targets and regressions come from it."""
    flakes: FlakeReport
    coverage: CoverageMap | None = None
    """Per-test coverage, when it could be collected."""
    reports: list[TestReport] = field(default_factory=list)
    """Every run compared by the flake classification, the first one included."""


def run_baseline(
    sandbox: Sandbox,
    template: Path,
    runner: TestRunner,
    *,
    runs: int = DEFAULT_RUNS,
    coverage: bool = True,
    cmd: Sequence[str] = ("python", "-m", "pytest"),
    python: str = sys.executable,
    limits: Limits | None = None,
    test_timeout: float | None = None,
) -> Baseline:
    """Run the whole suite ``runs`` times on fresh copies of ``template``, then once with coverage.

    When the first run produced no report the others are skipped (the caller reports that).
    A coverage run that fails leaves ``coverage`` ``None``: every change then re-runs every
    regression test. ``limits`` and ``test_timeout`` bound the coverage run (default: those of
    a :class:`PytestRunner`).
    """
    if isinstance(runner, PytestRunner):
        limits = limits or runner.limits
        test_timeout = test_timeout if test_timeout is not None else runner.per_test_timeout
    with sandbox.workspace(template) as workspace:
        first = runner.run(workspace, TestSelection())
    reports = [first]
    if first.status == "no_report":
        return Baseline(report=first, flakes=classify_flakes(reports), reports=reports)
    while len(reports) < max(runs, 1):
        with sandbox.workspace(template) as workspace:
            reports.append(runner.run(workspace, TestSelection()))
    spectrum: CoverageMap | None = None
    if coverage:
        try:
            with sandbox.workspace(template) as workspace:
                spectrum = collect_coverage(
                    sandbox,
                    workspace,
                    cmd,
                    limits=limits or Limits(),
                    python=python,
                    test_timeout=test_timeout or None,
                )
        except PatchloopError as exc:
            log.warning("no per-test coverage (every change re-runs every test): %s", exc)
        if spectrum is not None and not spectrum.complete:
            spectrum = None
    return Baseline(
        report=first, flakes=classify_flakes(reports), coverage=spectrum, reports=reports
    )
