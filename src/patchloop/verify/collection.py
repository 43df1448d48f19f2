"""Collection errors: test files (or directories) pytest could not import or collect.

pytest reports one as an error of the file's own node id (no ``::``), with the import error
in its output. They are not failing tests: they are named as what they are, and a run targets
them only when nothing else fails.
"""

from __future__ import annotations

from patchloop.domain import Outcome, TestOutcome, TestReport

__all__ = ["collection_errors", "describe", "is_collection_error"]


def is_collection_error(outcome: TestOutcome) -> bool:
    """Whether ``outcome`` is a file or directory that failed to collect."""
    return "::" not in outcome.nodeid and outcome.outcome in (Outcome.ERROR, Outcome.FAILED)


def collection_errors(report: TestReport) -> list[TestOutcome]:
    """The collection errors of ``report``, in report order."""
    return [o for o in report.outcomes if is_collection_error(o)]


def describe(outcome: TestOutcome) -> str:
    """The error in one line: pytest's ``E`` line (``ModuleNotFoundError: ...``, a syntax
    error), else the first line of the output, else the message."""
    lines = [line.strip() for line in outcome.details.splitlines() if line.strip()]
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    if errors:
        return errors[-1][:300]
    generic = outcome.message in ("", "collection failure")
    return (lines[0] if lines and generic else outcome.message or "collection failed")[:300]
