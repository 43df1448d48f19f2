"""Verification jobs: a given diff through the repair's tamper guard, then the tests in the
sandbox; the verdict per test."""

from __future__ import annotations

import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from patchloop.domain import Event, TestSelection
from patchloop.errors import EditError
from patchloop.repo.snapshot import locate
from patchloop.service._common import EventSink, argv_of, config_for
from patchloop.service.jobs import JobResult, TestVerdict, VerifySpec

__all__ = ["verify_job"]


def verify_job(spec: VerifySpec, project: Path, emit: EventSink, started: float) -> JobResult:
    """Apply ``spec.diff`` to a snapshot of ``project`` and run the selected tests."""
    from patchloop.edits import apply_diff
    from patchloop.edits.apply import write_patch
    from patchloop.repo.snapshot import take_snapshot
    from patchloop.sandbox import get_sandbox, limits_from_settings
    from patchloop.verify import PytestRunner
    from patchloop.verify.guard import check_patch

    def say(kind: str, message: str) -> None:
        emit(Event(t=round(time.monotonic() - started, 4), kind=kind, message=message))

    where = locate(project)
    config = config_for(where.project, where.git_root, {"tests.cmd": spec.test_cmd})
    argv = argv_of(config.tests.cmd)
    snap = take_snapshot(where)
    try:
        try:
            patch = apply_diff(snap.template, spec.diff, dry_run=True)
            check_patch(patch, allow_test_edits=False)
        except EditError as exc:
            say("verify.rejected", exc.message)
            return JobResult(
                verdict="rejected",
                diff=spec.diff,
                error=exc.message,
                error_kind=type(exc).__name__,
                wall_s=round(time.monotonic() - started, 4),
            )
        say("verify.applied", f"diff applies to {len(patch.changes)} file(s)")
        t0 = time.monotonic()
        with (
            closing(get_sandbox(config.sandbox)) as sandbox,
            sandbox.workspace(snap.template) as workspace,
        ):
            runner = PytestRunner(
                sandbox,
                argv,
                limits=limits_from_settings(config.tests, config.sandbox, wall_s=spec.timeout),
                per_test_timeout=config.tests.per_test_timeout,
                python=sys.executable,
                warm=False,
                plugin_autoload=config.tests.plugin_autoload,
                plugins=config.tests.plugins,
            )
            write_patch(workspace, patch)
            say("verify.tests", f"running {len(spec.tests) or 'all'} test(s)")
            report = runner.run(workspace, TestSelection(nodeids=spec.tests))
        sandbox_s = time.monotonic() - t0
    finally:
        snap.remove()
    outcomes = report.by_id()
    tests = tuple(
        TestVerdict(nodeid=o.nodeid, outcome=o.outcome.value, message=o.message)
        for o in outcomes.values()
    )
    missing = [t for t in spec.tests if t not in outcomes and not _has_children(t, outcomes)]
    tests += tuple(TestVerdict(nodeid=t, outcome="missing") for t in missing)
    if report.status == "no_report" or not tests:
        verdict, error = "error", "the test command produced no test report"
    else:
        green = all(t.outcome in ("passed", "xfailed", "xpassed", "skipped") for t in tests)
        verdict, error = ("passed" if green else "failed"), None
    say("verify.end", verdict)
    return JobResult(
        verdict=verdict,
        diff=patch.diff,
        sandbox_s=round(sandbox_s, 4),
        wall_s=round(time.monotonic() - started, 4),
        error=error,
        infra=verdict == "error",
        tests=tests,
    )


def _has_children(nodeid: str, outcomes: dict[str, Any]) -> bool:
    return any(k.startswith((nodeid + "::", nodeid + "[")) for k in outcomes)
