"""Run one job with the library: what a worker's job process does.

Thin over :func:`patchloop.repair`: check the repository out, resolve its configuration (the
repository's own config is untrusted and cannot choose models or the sandbox), run, and turn
the run record into a :class:`~patchloop.service.jobs.JobResult`. Verifications and index
warm-ups have modules of their own (:mod:`.verify_job`, :mod:`.index_job`).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from pathlib import Path
from typing import Any

from patchloop.domain import Event, RunRecord, Task
from patchloop.errors import PatchloopError, RepositoryError, SandboxError
from patchloop.repo.snapshot import Located, locate
from patchloop.service._common import EventSink, argv_of, config_for
from patchloop.service.index_job import index_job
from patchloop.service.jobs import IndexSpec, JobResult, RepairSpec, VerifySpec
from patchloop.service.settings import ServiceSettings
from patchloop.service.sources import checkout, under_roots
from patchloop.service.verify_job import verify_job

__all__ = ["run_job"]


def run_job(
    job_id: str,
    spec: RepairSpec | VerifySpec | IndexSpec,
    settings: ServiceSettings,
    emit: EventSink,
    *,
    team: str | None = None,
) -> JobResult:
    """Run ``spec`` and say what came of it; errors of the tree become an ``error`` verdict.

    A repair of ``team`` reuses the prepared repository states (baseline and coverage) of that
    team's earlier repairs, and only of that team's.
    """
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
            return index_job(spec, scratch, settings, sink, started)
        project = checkout(
            spec.repo, scratch, schemes=settings.git_schemes, timeout=settings.git_timeout_s
        )
        if isinstance(spec, RepairSpec):
            return _repair(job_id, spec, project, settings, sink, team=team)
        return verify_job(spec, project, sink, started)
    except (PatchloopError, KeyboardInterrupt) as exc:
        # The record of a run that ended on an error (or a cancel) is on disk: keep it.
        record = _record_after_error(settings, job_id, seen.get("run_id"))
        stopped = isinstance(exc, KeyboardInterrupt)
        error, hint = (
            (exc.message, exc.hint)
            if isinstance(exc, PatchloopError)
            else ("the run was stopped", None)
        )
        return JobResult(
            verdict="error",
            error=error,
            hint=hint,
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


def _templates(settings: ServiceSettings, team: str | None) -> str | None:
    """The team's template cache: one team's repository never feeds another team's runs."""
    if team is None:
        return None
    safe = re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", team) is not None
    name = team if safe else "_" + hashlib.sha256(team.encode()).hexdigest()[:32]
    return str(settings.data_dir / "templates" / name)


def _repair(
    job_id: str,
    spec: RepairSpec,
    project: Path,
    settings: ServiceSettings,
    emit: EventSink,
    *,
    team: str | None,
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
        "search.samples": spec.samples if spec.samples > 1 else None,
        "search.sampling": spec.sampling if spec.samples > 1 else None,
        "tests.template_cache": _templates(settings, team),
    }
    config = config_for(where.project, where.git_root, cli)
    task = Task(
        repo=where.project,
        description=spec.task,
        tests=spec.tests,
        test_cmd=argv_of(config.tests.cmd),
        allow_test_edits=False,
    )
    state_dir = _state_dir(settings, job_id)
    record = repair(task, config, on_event=emit, state_dir=state_dir)
    winner = next((a for a in record.attempts if a.status == "verified"), None)
    note = None
    if record.verified and spec.apply_to_branch and record.snapshot is not None:
        note = _commit(where, record, spec.apply_to_branch)
    return JobResult(
        verdict=record.status,
        diff=record.diff,
        fixed_by=winner.tier if winner is not None else None,
        usage=record.usage,
        sandbox_s=record.sandbox_s,
        wall_s=record.wall_s,
        timings=record.timings,
        error=record.error if record.status in ("error", "nothing_to_fix") else None,
        run_ids=(record.id,),
        record_dir=str(state_dir / "runs" / record.id),
        record=record,
        write_back=note,
    )


def _commit(where: Located, record: RunRecord, branch: str) -> str:
    """Commit the verified diff on a new branch, as ``fix --branch`` does; say what happened."""
    from patchloop.repo.writeback import (
        commit_to_branch,
        git_parent,
        head_commit,
        patch_from_diff,
        tree_unchanged,
    )

    info = record.snapshot
    assert info is not None
    message = f"patchloop: fix {', '.join(record.targets)[:200]}"
    try:
        # The files as verified: the tree while it still is the snapshot, else its HEAD.
        at = None if tree_unchanged(where, info) else info.head
        commit = commit_to_branch(
            where, info, patch_from_diff(where, record.diff, at=at), branch, message
        )
    except PatchloopError as exc:
        return f"not committed: {exc.message}"
    note = f"committed {commit[:12]} on new branch {branch}"
    head = head_commit(where)
    if info.head is not None and head is not None and git_parent(where, commit) != info.head:
        note += f"; HEAD moved during the run, the change was rebased onto {head[:12]}"
    return note
