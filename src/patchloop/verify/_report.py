"""Turn a finished test process and its report frame into a :class:`TestReport`. Pure.

The outcomes come from the junit XML inside the frame. They are trusted only after checks the
code under test would have to defeat all at once: exactly one well-formed frame, pytest's
reporting functions unchanged, every reported node id collected by pytest, every collected node
id reported, and an exit status that agrees with the outcomes. A report that fails a check is
*rejected*: every selected (else collected) test is graded failed with the reason as message.
Output is read here only to explain an absence, never to decide an outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from patchloop.domain import Outcome, ProcessResult, TestOutcome, TestReport, TestSelection
from patchloop.verify._frame import WATCHED, ReportFrame, read_frame
from patchloop.verify._paths import PathMapper
from patchloop.verify.collection import describe, is_collection_error
from patchloop.verify.junit import JunitError, covers, parse_junit

__all__ = ["REJECTED", "build_report"]

#: Prefix of the message of every test graded failed because its report was rejected.
REJECTED = "report rejected: "
#: pytest's exit codes that go with every selected test being green (OK, no tests collected).
_GREEN_EXITS = (0, 5)
#: pytest's exit code for usage errors (``ExitCode.USAGE_ERROR``).
USAGE_ERROR = 4
MISSING_MESSAGE = "not in the report: not collected, deselected, or the run stopped before it"


def _absent_message(nodeid: str, process: ProcessResult, timed_out: bool) -> str:
    if timed_out:
        return "the test run hit its wall-clock limit before reporting this test"
    if f"not found: {nodeid}" in process.stdout + process.stderr:
        return "no such test: pytest did not find it"
    if process.exit_code == USAGE_ERROR:
        return "not run: pytest stopped with a usage error (e.g. another selected test not found)"
    return MISSING_MESSAGE


def _collect_error(nodeid: str, outcomes: Sequence[TestOutcome]) -> TestOutcome | None:
    """The collection error of the file or directory that holds ``nodeid``, if one was
    reported: a test that was never run because its module failed to import says why."""
    for o in outcomes:
        if not o.nodeid or not is_collection_error(o):
            continue
        joint = "::" if o.nodeid.endswith(".py") else "/"
        if nodeid == o.nodeid or nodeid.startswith(o.nodeid.rstrip("/") + joint):
            return o
    return None


def _rejected(
    process: ProcessResult, nodeids: Sequence[str], reason: str, duration: float
) -> TestReport:
    if not nodeids:
        return TestReport(process=process, status="no_report", duration_s=duration)
    message = REJECTED + reason
    outcomes = tuple(
        TestOutcome(nodeid=n, outcome=Outcome.FAILED, message=message)
        for n in dict.fromkeys(nodeids)
    )
    return TestReport(outcomes=outcomes, process=process, status="ok", duration_s=duration)


def _check(frame: ReportFrame, outcomes: list[TestOutcome]) -> str | None:
    """Why the outcomes cannot be trusted, or ``None``."""
    if frame.tampered:
        return "pytest's reporting was replaced during the run: " + ", ".join(frame.tampered)
    unguarded = sorted(set(WATCHED) - set(frame.guarded))
    if unguarded:
        # Fail closed: without the whole guard there is no verdict.
        return (
            "the tamper guard could not watch pytest's "
            + ", ".join(unguarded)
            + " (not found in the test interpreter's pytest): no guard, no verdict"
        )
    known = set(frame.collected) | set(frame.collect_errors)
    forged = [o.nodeid for o in outcomes if o.nodeid not in known]
    if forged:
        return "the report names tests pytest never collected: " + ", ".join(forged[:5])
    raised = set(frame.raised)
    passed = [o.nodeid for o in outcomes if o.nodeid in raised and o.outcome.ok]
    if passed:
        return "tests that raised are reported as passed: " + ", ".join(passed[:5])
    return None


def build_report(
    process: ProcessResult, raw: bytes | None, workspace: Path, selection: TestSelection
) -> TestReport:
    """Combine a finished run and the bytes of its report channel (``None``: nothing came)."""
    mapper = PathMapper(workspace)
    process = process.model_copy(
        update={"stdout": mapper.scrub(process.stdout), "stderr": mapper.scrub(process.stderr)}
    )
    duration = process.duration_s
    timed_out = process.killed_by == "wall"
    frame: ReportFrame | None = None
    if raw:
        parsed = read_frame(raw)
        if isinstance(parsed, str):
            return _rejected(process, selection.nodeids, parsed, duration)
        frame = parsed
    outcomes: list[TestOutcome] = []
    if frame is not None and frame.junit is not None:
        try:
            outcomes = parse_junit(frame.junit, workspace=workspace)
        except JunitError as exc:
            return _rejected(process, selection.nodeids or frame.collected, str(exc), duration)
        problem = _check(frame, outcomes)
        if problem is not None:
            return _rejected(process, selection.nodeids or frame.collected, problem, duration)
    elif not timed_out:
        return TestReport(process=process, status="no_report", duration_s=duration)
    reported = {o.nodeid for o in outcomes}
    for nodeid in frame.collected if frame is not None else ():
        if nodeid not in reported:
            outcome = Outcome.TIMEOUT if timed_out else Outcome.MISSING
            message = _absent_message(nodeid, process, timed_out)
            outcomes.append(TestOutcome(nodeid=nodeid, outcome=outcome, message=message))
            reported.add(nodeid)
    listed = [o.nodeid for o in outcomes]
    for nodeid in selection.nodeids:
        if not covers(nodeid, listed):
            outcome = Outcome.TIMEOUT if timed_out else Outcome.MISSING
            message = _absent_message(nodeid, process, timed_out)
            details = ""
            if (broken := _collect_error(nodeid, outcomes)) is not None:
                message = f"not run: collecting {broken.nodeid} failed: {describe(broken)}"
                details = broken.details
            outcomes.append(
                TestOutcome(nodeid=nodeid, outcome=outcome, message=message, details=details)
            )
            listed.append(nodeid)
    green = bool(outcomes) and all(o.outcome.ok or o.outcome == Outcome.SKIPPED for o in outcomes)
    if green and not timed_out:
        if process.killed_by is not None:
            reason = f"the run was stopped by the {process.killed_by} limit after its tests"
            return _rejected(process, selection.nodeids or listed, reason, duration)
        if process.exit_code not in _GREEN_EXITS:
            reason = f"pytest exited with status {process.exit_code} although every test passed"
            return _rejected(process, selection.nodeids or listed, reason, duration)
    return TestReport(
        outcomes=tuple(outcomes),
        process=process,
        status="timeout" if timed_out else "ok",
        duration_s=duration,
    )
