"""Flake classification: run the baseline several times; a test whose outcome varies is flaky.

Flaky tests never count for or against a patch: they are dropped from the targets and from the
regression tests. Runs that produced no per-test outcomes at all (the harness failed, the suite
could not be collected) are left out of the comparison rather than making every test look flaky.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from patchloop.domain import Outcome, TestReport, TestSelection
from patchloop.protocols import TestRunner

__all__ = ["DEFAULT_RUNS", "FlakeReport", "classify_flakes", "find_flaky"]

#: How many times the baseline runs by default.
DEFAULT_RUNS = 3


class FlakeReport(BaseModel):
    """Outcomes of each test over the compared runs, and which tests varied."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    runs: int
    """Runs compared (runs without a report are not counted)."""
    outcomes: dict[str, tuple[Outcome, ...]] = Field(default_factory=dict)
    """Node id -> its outcome in each compared run (``missing`` where a run lacked it)."""
    flaky: tuple[str, ...] = ()
    """Node ids whose outcome was not the same in every compared run, sorted."""

    def is_flaky(self, nodeid: str) -> bool:
        """Whether ``nodeid`` varied."""
        return nodeid in self.flaky

    @property
    def stable_failing(self) -> tuple[str, ...]:
        """Tests that failed (not green, not skipped) in every compared run."""
        return tuple(
            n
            for n, seen in self.outcomes.items()
            if n not in self.flaky and seen and not seen[0].ok and seen[0] != Outcome.SKIPPED
        )

    @property
    def stable_passing(self) -> tuple[str, ...]:
        """Tests that were green in every compared run."""
        return tuple(
            n for n, seen in self.outcomes.items() if n not in self.flaky and seen and seen[0].ok
        )

    @property
    def rate(self) -> float:
        """Share of tests that are flaky."""
        return len(self.flaky) / len(self.outcomes) if self.outcomes else 0.0


def _usable(report: TestReport) -> bool:
    process = report.process
    return report.status != "no_report" and not (process is not None and process.error)


def classify_flakes(reports: Sequence[TestReport]) -> FlakeReport:
    """Compare the outcomes of ``reports`` (runs of the same selection). Pure."""
    usable = [r for r in reports if _usable(r)]
    if not usable:
        return FlakeReport(runs=0)
    per_run = [r.by_id() for r in usable]
    nodeids = list(dict.fromkeys(n for run in per_run for n in run))
    outcomes: dict[str, tuple[Outcome, ...]] = {}
    flaky: list[str] = []
    for nodeid in nodeids:
        seen = tuple(run[nodeid].outcome if nodeid in run else Outcome.MISSING for run in per_run)
        outcomes[nodeid] = seen
        if len(set(seen)) > 1:
            flaky.append(nodeid)
    return FlakeReport(runs=len(usable), outcomes=outcomes, flaky=tuple(sorted(flaky)))


def find_flaky(
    runner: TestRunner,
    workspace: Callable[[], AbstractContextManager[Path]],
    selection: TestSelection | None = None,
    *,
    runs: int = DEFAULT_RUNS,
    first: TestReport | None = None,
) -> tuple[FlakeReport, list[TestReport]]:
    """Run ``selection`` until there are ``runs`` reports and classify them.

    ``workspace`` makes a fresh working copy per run (``lambda: sandbox.workspace(template)``),
    so no run sees what an earlier one left behind. ``first`` is a report already made (the
    baseline run), counted as the first run. Returns the classification and every report.
    """
    reports = [first] if first is not None else []
    while len(reports) < max(runs, 1):
        with workspace() as copy:
            reports.append(runner.run(copy, selection or TestSelection()))
    return classify_flakes(reports), reports
