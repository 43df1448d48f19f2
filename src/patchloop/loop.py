"""The repair loop: propose, dry-run, guard, verify, feed back; until green or out of budget."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from patchloop.config import Config
from patchloop.domain import AttemptStatus, Feedback, Plan, RunRecord, Task
from patchloop.ensemble import arrange, check_search
from patchloop.errors import BadOutput, EditError, ModelError, NothingToFix, PatchloopError
from patchloop.planning import (
    NEEDS_A_FAILING_TEST,
    build_models,
    build_tiers,
    default_plan,
    issue_context,
)
from patchloop.protocols import Closeable, Model
from patchloop.repo.snapshot import Snapshot, locate, take_snapshot
from patchloop.search import Judged, best_partial, judge, summary_feedback
from patchloop.session import EventSink, RunSession, classify
from patchloop.store import RunStore, new_run_id
from patchloop.tiers import Proposal, Tier, TierExhausted, batch
from patchloop.verify.nodeids import normalize_test_id

__all__ = ["repair"]


def repair(
    task: Task,
    config: Config,
    *,
    models: Sequence[Model] | None = None,
    on_event: EventSink | None = None,
    snapshot: Snapshot | None = None,
    state_dir: Path | None = None,
    replay_of: str | None = None,
    plan: Plan | None = None,
) -> RunRecord:
    """Repair ``task`` and return the run record (also written under the state directory).

    ``models`` overrides the models built from ``config.models`` (tests and replay pass
    scripted models); ``snapshot`` replaces snapshotting ``task.repo`` and ``plan`` replaces
    routing (replay).
    """
    if task.tests:
        task = task.model_copy(
            update={"tests": tuple(normalize_test_id(t, task.repo) for t in task.tests)}
        )
    chosen = list(models) if models is not None else build_models(config)
    # Whatever way the run ends, what it opened is closed, last opened first.
    with ExitStack() as opened:
        if models is None:
            for model in chosen:
                if isinstance(model, Closeable):
                    opened.callback(model.close)
        default_plan(config, [m.name for m in chosen])  # a plan with no tiers fails first
        check_search(config.search)
        snap = snapshot or take_snapshot(locate(task.repo))
        if snapshot is None:
            opened.callback(snap.remove)
        store = RunStore(state_dir or task.repo / config.state_dir)
        run = RunSession(
            task, config, snap, store, new_run_id(), on_event=on_event, replay_of=replay_of
        )
        opened.callback(run.close)
        return _drive(run, chosen, plan)


def _drive(run: RunSession, models: Sequence[Model], plan: Plan | None) -> RunRecord:
    """Baseline, then each tier in turn; the record is finished whatever happens."""
    try:
        run.emit("run.start", f"snapshot of {run.snapshot.info.files} files", run_id=run.run_id)
        try:
            run.baseline()
        except NothingToFix as exc:
            return run.finish("nothing_to_fix", "nothing_to_fix", _unverifiable(run, str(exc)))
        stop = "exhausted"
        for tier in arrange(build_tiers(run, models, plan), run.config.search):
            stop = _run_tier(run, tier)
            if stop in ("verified", "time", "tokens"):
                return run.finish("verified" if stop == "verified" else "not_fixed", stop)
        return run.finish("not_fixed", stop)
    except PatchloopError as exc:
        run.finish("error", type(exc).__name__, str(exc))
        raise
    except BaseException:
        run.finish("error", "interrupted", "the run was interrupted")
        raise


def _run_tier(run: RunSession, tier: Tier) -> str:
    """Drive one tier until it verifies a fix, runs dry, or a budget ends; say which."""
    run.emit("tier.start", tier.name, tier=tier.name)
    limit = tier.plan.max_seconds
    tier_deadline = time.monotonic() + limit if limit is not None else None
    iteration = 0
    while iteration < tier.plan.max_iterations:
        if stop := run.stop_reason():
            return stop
        if tier_deadline is not None and time.monotonic() >= tier_deadline:
            return "tier_time"
        iteration += 1
        draft = Proposal(tier=tier.name, deadline=min(run.deadline, tier_deadline or run.deadline))
        judged: list[Judged] = []
        # What the record says if something outside the error tree (Ctrl-C) ends the attempt.
        failure: tuple[AttemptStatus, Feedback | None, str] = ("interrupted", None, "")
        try:
            tier.propose(draft)
            judged = judge(run, batch(draft), fail_fast=tier.fail_fast, deadline=tier_deadline)
        except TierExhausted:
            return "exhausted"
        except PatchloopError as exc:
            status, kind = classify(exc)
            told = Feedback(
                kind=kind, text=exc.feedback if isinstance(exc, EditError) else str(exc)
            )
            failure = (status, told, type(exc).__name__)
            if isinstance(exc, ModelError) and not isinstance(exc, BadOutput):
                # A call cut off by the run's deadline ends the run on time, not on the model.
                if stop := run.stop_reason():
                    return stop
                run.emit("tier.abort", str(exc), tier=tier.name)
                return "model_error"
            if kind == "infra":
                raise
        finally:
            _record(run, draft, judged, iteration, failure)
        if any(j.status == "verified" for j in judged):
            return "verified"
        _observe(run, tier, judged)
    return "iterations"


def _record(
    run: RunSession,
    draft: Proposal,
    judged: list[Judged],
    iteration: int,
    failure: tuple[AttemptStatus, Feedback | None, str],
) -> None:
    """Record every candidate of the iteration (or the draft, when judging never finished)."""
    if not judged:
        if draft.patch is not None or draft.completion is not None or draft.messages:
            status, feedback, error = failure
            run.recorder.record_attempt(
                draft,
                iteration=iteration,
                status=status,
                feedback=feedback,
                verdict=None,
                error=error,
            )
        return
    recorded: dict[int, int] = {}
    for j in judged:
        same = recorded.get(id(j.same_as)) if j.same_as is not None else None
        attempt = run.recorder.record_attempt(
            j.proposal,
            iteration=iteration,
            status=j.status,
            feedback=j.feedback,
            verdict=j.verdict if j.same_as is None else None,
            error=j.error,
            votes=j.votes,
            same_as=same,
            failing=j.verdict.failing if j.verdict is not None else None,
        )
        recorded[id(j.proposal)] = attempt.index


def _observe(run: RunSession, tier: Tier, judged: list[Judged]) -> None:
    """Tell the tier what became of its candidates; show the model the closest one."""
    for j in judged:
        j.proposal.feedback = j.feedback
    shown = best_partial(judged)
    if shown is not None:
        shown.proposal.feedback = summary_feedback(judged, shown)
    before = len(tier.added_files)
    tier.observe([j.proposal for j in judged], shown.proposal if shown else None)
    if added := tier.added_files[before:]:
        run.emit(
            "context.added",
            f"failure points at {', '.join(added)}: added to the prompt",
            tier=tier.name,
            attempt=len(run.recorder.attempts),
            files=len(added),
        )


def _unverifiable(run: RunSession, why: str) -> str:
    """Why nothing can be verified; with an issue text, also where it points in the code."""
    if not run.task.description.strip() or run.task.tests:
        return why
    found = issue_context(run, k=5)
    if not found:
        return why
    where = ", ".join(f"{loc.path}:{loc.start_line}" for loc in found[:5])
    return f"{why}; the issue points at {where}; {NEEDS_A_FAILING_TEST}"
