"""Replaying a run that stopped because its time ran out: the replay answers instantly, yet
stops at the recorded attempt count and reaches the same result."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from patchloop.config import Config, FixerSettings
from patchloop.domain import Completion, CompletionRequest, Plan, Task, TierPlan
from patchloop.loop import repair
from patchloop.models.scripted import ScriptedModel
from patchloop.replay import replay_plan, replay_run
from patchloop.store import RunStore
from tests.conftest import FIX_REPLY

WRONG_REPLY = FIX_REPLY.replace("return high", "return value")
MARGIN_S = 0.05


class LastMoment:
    """A model that answers just before the time left runs out, so that the run's clock is
    spent by the time the attempt is verified."""

    def __init__(self, replies: list[str]) -> None:
        self.inner = ScriptedModel(replies, name="scripted:a")

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def capabilities(self):  # type: ignore[no-untyped-def]
        return self.inner.capabilities

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def complete(self, request: CompletionRequest) -> Completion:
        assert request.timeout_s is not None
        time.sleep(max(0.0, request.timeout_s - MARGIN_S))
        return self.inner.complete(request)


def _timed_out_run(repo: Path) -> str:
    config = Config(
        models=("scripted:a",), fixers=FixerSettings(enabled=False), max_iterations=5, timeout=4
    )
    record = repair(Task(repo=repo), config, models=[LastMoment([WRONG_REPLY] * 5)])  # type: ignore[list-item]
    assert record.stop_reason == "time", record.stop_reason
    assert record.status == "not_fixed"
    assert 1 <= len(record.attempts) < 5
    return record.id


def test_replay_of_a_timed_out_run_stops_at_the_recorded_attempts(calc_repo: Path) -> None:
    run_id = _timed_out_run(calc_repo)
    store = RunStore(calc_repo / ".patchloop")
    original = store.load(run_id)
    result = replay_run(store, run_id)
    assert result.same, result.differences
    assert len(result.replay.attempts) == len(original.attempts)
    assert result.replay.diff == original.diff
    # Through the CLI as well.
    out = subprocess.run(
        [sys.executable, "-m", "patchloop", "runs", "replay", run_id, "--json"],
        cwd=calc_repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["same"] is True, summary


def test_replay_plan_holds_timed_tiers_to_their_attempts(calc_repo: Path) -> None:
    run_id = _timed_out_run(calc_repo)
    original = RunStore(calc_repo / ".patchloop").load(run_id)
    plan = Plan(
        tiers=(
            TierPlan(name="fixers", kind="fixers", max_iterations=40, max_seconds=30),
            TierPlan(name="scripted:a", kind="model", max_iterations=5),
            TierPlan(name="scripted:b", kind="model", max_iterations=5),
        )
    )
    timed = original.model_copy(update={"plan": plan})
    held = replay_plan(timed)
    assert held is not None
    # The fixers tier recorded nothing here; the model tier is held to its attempts; the tier
    # the original never reached is dropped.
    assert [t.name for t in held.tiers] == ["fixers", "scripted:a"]
    assert held.tiers[1].max_iterations == len(original.attempts)
    assert held.tiers[1].max_seconds is None
    # A run that ended otherwise replays its plan as recorded, except tiers with a time limit.
    finished = timed.model_copy(update={"stop_reason": "iterations"})
    assert replay_plan(finished) == plan
