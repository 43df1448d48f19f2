"""Run one job with the library: what a worker's job process does.

Thin over :func:`patchloop.repair`: check the repository out, resolve its configuration (the
repository's own config is untrusted and cannot choose models or the sandbox), run, and turn
the run record into a :class:`~patchloop.service.jobs.JobResult`. Verifications apply the diff
to a snapshot, pass it through the same tamper guard as a repair, and run the tests in the
sandbox.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from patchloop.config import Config, load_config
from patchloop.domain import Event, Limits, RunRecord, Task, TestSelection, Usage
from patchloop.errors import (
    EditError,
    PatchloopError,
    RepositoryError,
    SandboxError,
    UsageError,
)
from patchloop.repo.snapshot import locate
from patchloop.service.jobs import IndexSpec, JobResult, RepairSpec, TestVerdict, VerifySpec
from patchloop.service.settings import ServiceSettings
from patchloop.service.sources import checkout, under_roots

__all__ = ["run_job"]

EventSink = Callable[[Event], None]


def _config(project: Path, git_root: Path, cli: dict[str, Any]) -> Config:
    return load_config(project, git_root=git_root, cli=cli).config


def _argv(cmd: str) -> tuple[str, ...]:
    try:
        argv = tuple(shlex.split(cmd))
    except ValueError as exc:
        raise UsageError(f"cannot parse the test command {cmd!r}: {exc}") from exc
    if not argv:
        raise UsageError("the test command is empty")
    return argv


def run_job(
    job_id: str,
    spec: RepairSpec | VerifySpec | IndexSpec,
    settings: ServiceSettings,
    emit: EventSink,
) -> JobResult:
    """Run ``spec`` and say what came of it; errors of the tree become an ``error`` verdict."""
    scratch = settings.data_dir / "work" / job_id
    started = time.monotonic()
    seen: dict[str, str] = {}

    def sink(event: Event) -> None:
        if event.kind == "run.start" and isinstance(event.data.get("run_id"), str):
            seen["run_id"] = str(event.data["run_id"])
        emit(event)

    try:
        if spec.repo.path is not None and not under_roots(
            Path(spec.repo.path), settings.allowed_roots
        ):
            # Checked at submission; checked again in case a symlink moved since.
            raise RepositoryError(f"{spec.repo.path} is no longer inside an allowed root")
        if isinstance(spec, IndexSpec):
            return _index(spec, scratch, settings, sink, started)
        project = checkout(
            spec.repo, scratch, schemes=settings.git_schemes, timeout=settings.git_timeout_s
        )
        if isinstance(spec, RepairSpec):
            return _repair(job_id, spec, project, settings, sink)
        return _verify(spec, project, sink, started)
    except (PatchloopError, KeyboardInterrupt) as exc:
        # The record of a run that ended on an error (or a cancel) is on disk: keep it.
        record = _record_after_error(settings, job_id, seen.get("run_id"))
        stopped = isinstance(exc, KeyboardInterrupt)
        return JobResult(
            verdict="error",
            error="the run was stopped" if stopped else str(getattr(exc, "message", exc)),
            hint=getattr(exc, "hint", None),
            error_kind="Cancelled" if stopped else type(exc).__name__,
            infra=isinstance(exc, SandboxError),
            record=record,
            run_ids=(record.id,) if record is not None else (),
            wall_s=round(time.monotonic() - started, 4),
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _state_dir(settings: ServiceSettings, job_id: str) -> Path:
    return settings.data_dir / "runs" / job_id


def _record_after_error(
    settings: ServiceSettings, job_id: str, run_id: str | None
) -> RunRecord | None:
    if run_id is None:
        return None
    path = _state_dir(settings, job_id) / "runs" / run_id / "record.json"
    try:
        return RunRecord.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _repair(
    job_id: str, spec: RepairSpec, project: Path, settings: ServiceSettings, emit: EventSink
) -> JobResult:
    from patchloop.loop import repair

    where = locate(project)
    cli: dict[str, Any] = {
        "tests.cmd": spec.test_cmd,
        "models": spec.models or None,
        "edit_format": spec.edit_format,
        "max_iterations": spec.max_iterations,
        "max_tokens": spec.max_tokens,
        "timeout": spec.timeout,
        "allow_test_edits": False,
        "fixers.enabled": None if spec.fixers else False,
    }
    config = _config(where.project, where.git_root, cli)
    task = Task(
        repo=where.project,
        description=spec.task,
        tests=spec.tests,
        test_cmd=_argv(config.tests.cmd),
        allow_test_edits=False,
    )
    state_dir = _state_dir(settings, job_id)
    records: list[RunRecord] = []
    for sample in range(spec.samples):
        if sample:
            emit(Event(t=0.0, kind="sample.start", message=f"sample {sample + 1}"))
        record = repair(task, config, on_event=emit, state_dir=state_dir)
        records.append(record)
        if record.status != "not_fixed":
            break
    record = records[-1]
    usage = sum((r.usage for r in records), Usage())
    winner = next((a for a in record.attempts if a.status == "verified"), None)
    note = None
    if record.verified and spec.apply_to_branch and record.snapshot is not None:
        note = _commit(where, record, spec.apply_to_branch)
    return JobResult(
        verdict=record.status,
        diff=record.diff,
        fixed_by=winner.tier if winner is not None else None,
        usage=usage,
        sandbox_s=round(sum(r.sandbox_s for r in records), 4),
        wall_s=round(sum(r.wall_s for r in records), 4),
        timings=record.timings,
        error=record.error if record.status in ("error", "nothing_to_fix") else None,
        run_ids=tuple(r.id for r in records),
        record_dir=str(state_dir / "runs" / record.id),
        record=record,
        write_back=note,
    )


def _commit(where: Any, record: RunRecord, branch: str) -> str:
    from patchloop.edits import apply_diff
    from patchloop.repo.writeback import commit_to_branch

    assert record.snapshot is not None
    patch = apply_diff(where.project, record.diff, dry_run=True)
    message = f"patchloop: fix {', '.join(record.targets)[:200]}"
    try:
        commit = commit_to_branch(where, record.snapshot, patch, branch, message)
    except PatchloopError as exc:
        return f"not committed: {exc.message}"
    return f"committed {commit[:12]} on new branch {branch}"


def _verify(spec: VerifySpec, project: Path, emit: EventSink, started: float) -> JobResult:
    from patchloop.edits import apply_diff
    from patchloop.repo.snapshot import take_snapshot
    from patchloop.sandbox import get_sandbox
    from patchloop.verify import PytestRunner
    from patchloop.verify.guard import check_patch

    def say(kind: str, message: str) -> None:
        emit(Event(t=round(time.monotonic() - started, 4), kind=kind, message=message))

    where = locate(project)
    config = _config(where.project, where.git_root, {"tests.cmd": spec.test_cmd})
    argv = _argv(config.tests.cmd)
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
        sandbox = get_sandbox(config.sandbox)
        settings = config.sandbox
        runner = PytestRunner(
            sandbox,
            argv,
            limits=Limits(
                wall_s=spec.timeout,
                cpu_s=settings.cpu_s,
                memory_bytes=settings.memory_mb * 1024 * 1024 if settings.memory_mb else None,
                processes=settings.processes,
                output_bytes=config.tests.output_bytes,
            ),
            per_test_timeout=config.tests.per_test_timeout,
            python=sys.executable,
            warm=False,
            plugin_autoload=config.tests.plugin_autoload,
            plugins=config.tests.plugins,
        )
        t0 = time.monotonic()
        with sandbox.workspace(snap.template) as workspace:
            for change in patch.changes:
                target = workspace / change.path
                if change.after is None:
                    target.unlink(missing_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with target.open("w", encoding="utf-8", newline="") as fh:
                    fh.write(change.after)
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


def _index(
    spec: IndexSpec, scratch: Path, settings: ServiceSettings, emit: EventSink, started: float
) -> JobResult:
    """Index the ref in place for a path (repairs of that path find it), else in a clone."""
    from patchloop.index import build_index
    from patchloop.index.stats import merge_passes

    if spec.repo.path is not None:
        root, ref = locate(Path(spec.repo.path)).git_root, spec.repo.ref
    else:
        clone = checkout(
            spec.repo, scratch, schemes=settings.git_schemes, timeout=settings.git_timeout_s
        )
        root, ref = clone, "HEAD"
    config = _config(root, root, {})
    store = Path(config.index.dir) if config.index.dir else None

    def say(kind: str, message: str) -> None:
        emit(Event(t=round(time.monotonic() - started, 4), kind=kind, message=message))

    say("index.start", f"indexing {ref or 'the working tree'}")
    stats = build_index(root, ref, store, dense=False)
    if spec.dense:
        stats = merge_passes(stats, build_index(root, ref, store, dense=True))
    say(
        "index.end",
        f"{stats.files} files, {stats.chunks_new} new chunks, {stats.chunks_reused} reused",
    )
    return JobResult(verdict="indexed", index=stats, wall_s=round(time.monotonic() - started, 4))
