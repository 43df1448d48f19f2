"""Replaying a recorded run: the same snapshot, config and completions must give the same result."""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from patchloop.config import Config, restricted_view
from patchloop.domain import Completion, CompletionRequest, Plan, RunRecord
from patchloop.errors import ConfigError, UsageError
from patchloop.loop import repair
from patchloop.models.scripted import Reply, ScriptedModel, ScriptedReply
from patchloop.protocols import Model
from patchloop.repo.snapshot import Snapshot, restore_snapshot
from patchloop.session import EventSink
from patchloop.store import RunStore

__all__ = ["ReplayResult", "replay_plan", "replay_run"]


@dataclass(frozen=True)
class ReplayResult:
    """The original record, the replay's record, and whether they agree."""

    original: RunRecord
    replay: RunRecord
    same: bool
    differences: tuple[str, ...]


class _RecordedTier(ScriptedModel):
    """A model tier's recorded completions, in order. Asked for branches, it answers with
    as many candidates as the recorded iteration had: a reply can have fewer fork points
    than the samples asked, and the dropped branches were never recorded."""

    def __init__(self, replies: list[Reply], iterations: list[int], name: str) -> None:
        super().__init__(replies, name=name)
        self._iterations = deque(iterations)

    def complete_branches(
        self, request: CompletionRequest, count: int, reject: Callable[[str], bool], misses: int
    ) -> list[Completion]:
        """The next recorded iteration's completions."""
        size = self._iterations.popleft() if self._iterations else count
        return [self.complete(request) for _ in range(size)]


def _scripted_models(store: RunStore, record: RunRecord) -> list[Model]:
    completions = store.completions(record.id)
    tiers: dict[str, list[Reply]] = {}
    sizes: dict[str, Counter[int]] = {}
    for attempt in record.attempts:
        if attempt.tier == "fixers":
            continue
        sizes.setdefault(attempt.tier, Counter())[attempt.iteration] += 1
        replies = tiers.setdefault(attempt.tier, [])
        completion = completions.get(attempt.index)
        if completion is not None:
            replies.append(completion)
        else:
            # The model failed on this attempt; the replay fails the same way.
            kind = attempt.error or "ModelUnavailable"
            replies.append(ScriptedReply(raise_=kind, message="recorded failure"))
    names = list(dict.fromkeys(record.config.get("models", [])))
    return [
        _RecordedTier(
            tiers.get(name, []), [n for _, n in sorted(sizes.get(name, {}).items())], name
        )
        for name in names
    ]


def replay_plan(record: RunRecord) -> Plan | None:
    """The plan to replay ``record`` with: its own, with timed stops turned into counts.

    A replay answers from recorded completions at once, so where the original stopped because
    time ran out (the run's budget, or a tier's ``max_seconds``) it would go on. Such tiers are
    held to the attempts they recorded, and when the run's time ran out, the tiers it never
    reached are dropped.
    """
    plan = record.plan
    if plan is None:
        return None
    # Iterations, not attempts: an iteration of a model tier can hold several samples.
    counts: Counter[str] = Counter()
    for attempt in record.attempts:
        counts[attempt.tier] = max(counts[attempt.tier], attempt.iteration)
    timed_out = record.stop_reason == "time"
    reached = [i for i, t in enumerate(plan.tiers) if counts[t.name]]
    end = (reached[-1] + 1 if reached else 0) if timed_out else len(plan.tiers)
    tiers = []
    for tier in plan.tiers[:end]:
        held = (timed_out or tier.max_seconds is not None) and counts[tier.name]
        update = {"max_iterations": counts[tier.name], "max_seconds": None} if held else {}
        tiers.append(tier.model_copy(update=update))
    return plan.model_copy(update={"tiers": tuple(tiers)})


def _compare(a: RunRecord, b: RunRecord) -> tuple[str, ...]:
    diffs: list[str] = []
    if a.status != b.status:
        diffs.append(f"status {a.status} -> {b.status}")
    if a.diff != b.diff:
        diffs.append("final diff differs")
    seq_a = [(x.tier, x.status) for x in a.attempts]
    seq_b = [(x.tier, x.status) for x in b.attempts]
    if seq_a != seq_b:
        diffs.append(f"attempt sequence differs ({len(seq_a)} vs {len(seq_b)} attempts)")
    return tuple(diffs)


def replay_run(
    store: RunStore,
    run_id: str,
    *,
    on_event: EventSink | None = None,
    trusted: Config | None = None,
) -> ReplayResult:
    """Re-run a recorded run with its recorded completions and compare the outcome.

    A record lies in the project's state directory, which the repository can ship: its config
    is read like a repository's config, every key that chooses credentials, the sandbox, code
    to import or where state goes is taken from ``trusted`` (the user's configuration).
    """
    original = store.load(run_id)
    if original.snapshot is None:
        raise UsageError(f"run {run_id} has no snapshot to replay")
    try:
        config = restricted_view(original.config, trusted or Config())
    except ConfigError as exc:
        raise UsageError(
            f"run {original.id} cannot be replayed: its recorded configuration is not valid "
            f"({exc.message})",
            hint="start a new run with patchloop fix",
        ) from exc
    base = Path(tempfile.mkdtemp(prefix="patchloop-replay-"))
    try:
        tree = base / "tree"
        files = restore_snapshot(original.snapshot, store.path(original.id) / "snapshot", tree)
        snapshot = Snapshot(info=original.snapshot, template=tree, files=tuple(files))
        record = repair(
            original.task,
            config,
            models=_scripted_models(store, original),
            on_event=on_event,
            snapshot=snapshot,
            state_dir=store.state_dir,
            replay_of=original.id,
            plan=replay_plan(original),
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)
    differences = _compare(original, record)
    return ReplayResult(original, record, not differences, differences)
