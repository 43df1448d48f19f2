"""One label per test run, keeping the causes apart: passed, failed, error, timeout, a limit, or
an infrastructure failure. Only infrastructure failures are worth retrying. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from patchloop.domain import Outcome, TestReport

__all__ = ["LIMITS", "RunLabel", "RunVerdict", "label_report"]

#: ``ProcessResult.killed_by`` values that name a resource limit.
LIMITS = ("cpu", "memory", "output", "file_size")


class RunLabel(StrEnum):
    """What became of a test run as a whole."""

    PASSED = "passed"
    """Every selected test is green."""
    FAILED = "failed"
    """A selected test failed or is missing (including a rejected report)."""
    ERROR = "error"
    """Tests errored, the run crashed, or it produced no report (e.g. collection broke)."""
    TIMEOUT = "timeout"
    """The wall clock or a per-test timeout stopped it."""
    LIMIT = "limit"
    """A resource limit stopped it (``RunVerdict.limit`` says which)."""
    INFRA = "infra"
    """The harness could not run it: no sandbox, no command, a dead warm interpreter."""


class RunVerdict(BaseModel):
    """A run's label, the limit that stopped it (for ``LIMIT``), and a one-line detail."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: RunLabel
    limit: str | None = None
    detail: str = ""

    @property
    def retryable(self) -> bool:
        """Only infrastructure failures: the same run may well succeed next time."""
        return self.label == RunLabel.INFRA


def label_report(report: TestReport, nodeids: Sequence[str] = ()) -> RunVerdict:
    """Label ``report``; ``nodeids`` restricts the outcomes considered (default: all)."""
    process = report.process
    if process is not None and process.error:
        return RunVerdict(label=RunLabel.INFRA, detail=process.error)
    if process is not None and process.killed_by in LIMITS:
        return RunVerdict(
            label=RunLabel.LIMIT,
            limit=process.killed_by,
            detail=f"stopped by the {process.killed_by} limit",
        )
    wanted = set(nodeids)
    outcomes = [o for o in report.outcomes if not wanted or o.nodeid in wanted]
    kinds = {o.outcome for o in outcomes}
    if report.status == "timeout" or (process is not None and process.timed_out):
        return RunVerdict(label=RunLabel.TIMEOUT, detail="stopped by the wall clock")
    if report.status == "no_report":
        code = process.exit_code if process is not None else None
        return RunVerdict(label=RunLabel.ERROR, detail=f"no test report (exit status {code})")
    if process is not None and process.killed_by == "signal":
        return RunVerdict(label=RunLabel.ERROR, detail=f"killed by a signal ({process.exit_code})")
    if Outcome.TIMEOUT in kinds:
        return RunVerdict(label=RunLabel.TIMEOUT, detail="a test ran past the per-test timeout")
    if kinds & {Outcome.FAILED, Outcome.MISSING}:
        return RunVerdict(label=RunLabel.FAILED)
    if Outcome.ERROR in kinds:
        return RunVerdict(label=RunLabel.ERROR, detail="a test errored in setup or teardown")
    return RunVerdict(label=RunLabel.PASSED)
