"""The job queues' decisions without a database: what a cancel does, who may start a job,
when a lost job is retried and when it fails, what each change writes to the job's log."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from patchloop.domain import Attempt, RunRecord, Task
from patchloop.errors import Conflict, NotFound, UsageError
from patchloop.service._queue_logic import (
    PRUNE_BATCH,
    at_capacity,
    cancel_step,
    check_found,
    check_replay,
    ended,
    event_values,
    last_batch,
    model_calls,
    new_job_id,
    new_lease_token,
    open_teams,
    prune_cutoff,
    queued,
    reclaim_step,
    requeued,
    started,
)
from patchloop.service.jobs import JobResult
from patchloop.service.queue import LeasePolicy, NewEvent


def test_ids_and_tokens_are_fresh() -> None:
    ids = {new_job_id("repair") for _ in range(50)}
    assert len(ids) == 50
    assert all(i.startswith("rep_") and len(i) == 4 + 16 for i in ids)
    assert new_job_id("index").startswith("ind_")
    assert new_lease_token() != new_lease_token()


def test_a_job_is_found_only_by_its_team() -> None:
    check_found("j", "a", "a")
    check_found("j", "a", None)  # the workers' view: any team
    with pytest.raises(NotFound, match="no run 'j'"):
        check_found("j", "a", "b")
    with pytest.raises(NotFound):
        check_found("j", None, None)


def test_an_idempotency_key_replays_only_its_own_request() -> None:
    check_replay("h1", "h1")
    with pytest.raises(Conflict, match="Idempotency-Key"):
        check_replay("h1", "h2")


def test_cancel_ends_a_queued_job_and_asks_a_running_one_once() -> None:
    now = cancel_step("queued", False)
    assert now is not None
    assert (now.to, now.event.kind) == ("cancelled", "job.end")
    ask = cancel_step("running", False)
    assert ask is not None
    assert (ask.to, ask.event.kind) == ("cancel_requested", "job.cancel")
    assert cancel_step("running", True) is None  # asked before: no second event
    for status in ("succeeded", "failed", "cancelled"):
        assert cancel_step(status, False) is None


def _has_room(policy: LeasePolicy, running: dict[str, int], team: str) -> bool:
    return running.get(team, 0) < policy.team_limits.get(team, policy.team_default)


@pytest.mark.parametrize("default", [0, 1, 2])
def test_open_teams_admit_exactly_the_teams_under_their_limit(default: int) -> None:
    """Both queues pick by :class:`Teams` (PostgreSQL as an SQL filter, SQLite row by row):
    it must agree with each team's own limit, named in the policy or not."""
    teams = ("a", "b", "c", "d")
    for limits in ({}, {"a": 1}, {"a": 0, "b": 3}):
        policy = LeasePolicy(lease_s=1, max_running=99, team_limits=limits, team_default=default)
        for counts in itertools.product(range(4), repeat=3):
            running = {t: n for t, n in zip(teams, counts, strict=False) if n}
            found = open_teams(policy, running)
            for team in (*teams, "unnamed"):
                assert found.admits(team) == _has_room(policy, running, team), (limits, running)


def test_capacity_counts_every_team() -> None:
    policy = LeasePolicy(lease_s=1, max_running=3)
    assert not at_capacity(policy, {"a": 1, "b": 1})
    assert at_capacity(policy, {"a": 2, "b": 1})
    assert at_capacity(policy.model_copy(update={"max_running": 0}), {})


def test_start_events_count_the_tries() -> None:
    assert started(1, "w1") == NewEvent(kind="job.start", message="started by worker w1")
    assert started(3, "w1").message == "started again (try 3) by worker w1"


def test_a_lost_job_is_retried_until_its_last_lease_then_fails() -> None:
    retry = reclaim_step("w1", 1, False, max_leases=2)
    assert (retry.to, retry.event.kind, retry.result) == ("queued", "job.retry", None)
    assert retry.event.message == "worker w1 was lost (no heartbeat); queued again"
    failed = reclaim_step("w2", 2, False, max_leases=2)
    assert (failed.to, failed.event.kind) == ("failed", "job.end")
    assert failed.result is not None
    assert failed.result.infra
    assert (failed.result.verdict, failed.result.error_kind) == ("error", "WorkerLost")
    assert failed.result.error == "worker w2 was lost (no heartbeat) on each of 2 tries"
    assert failed.event.message == f"failed: {failed.result.error}"
    assert reclaim_step("w", 5, False, max_leases=2).to == "failed"


def test_a_lost_job_asked_to_stop_is_cancelled_whatever_its_tries() -> None:
    for leases in (1, 2, 3):
        step = reclaim_step("w", leases, True, max_leases=2)
        assert (step.to, step.event.kind, step.result) == ("cancelled", "job.end", None)
        assert step.event.message == "cancelled; worker w was lost (no heartbeat)"


def test_the_events_of_a_job_ending_or_going_back() -> None:
    assert ended("succeeded", JobResult(verdict="verified")).message == "succeeded: verified"
    failed = ended("failed", JobResult(verdict="error", error="boom"))
    assert (failed.kind, failed.message) == ("job.end", "failed: error (boom)")
    assert requeued("stopping") == NewEvent(kind="job.requeued", message="stopping")
    assert queued("verify", 5.0) == NewEvent(kind="job.queued", message="verify accepted", at=5.0)


def test_event_rows_keep_the_run_events_json_and_their_time() -> None:
    plain = NewEvent(kind="note", message="half way")
    assert event_values("j", plain, 2, 9.0) == ("j", 9.0, 2, "note", "half way")
    run = NewEvent(kind="baseline.end", message="1 failing", body='{"t":1}', at=3.0)
    assert event_values("j", run, 1, 9.0) == ("j", 3.0, 1, "baseline.end", '{"t":1}')


def test_model_calls_leave_out_the_fixers() -> None:
    def attempt(index: int, tier: str, status: str, timings: dict[str, float]) -> Attempt:
        return Attempt(index=index, tier=tier, iteration=1, status=status, timings=timings)

    record = RunRecord(
        id="r",
        created_at="now",
        status="verified",
        task=Task(repo=Path("/srv/r")),
        attempts=(
            attempt(1, "fixers", "tests_failed", {}),
            attempt(2, "vllm:big", "model_error", {"model": 0.5}),
            attempt(3, "openai", "verified", {}),
        ),
    )
    assert model_calls("j", record) == [("j", "vllm", 0.5, 1), ("j", "openai", 0.0, 0)]


def test_prune_cutoff_and_batches() -> None:
    assert prune_cutoff(10.0, 100.0) == 90.0
    assert prune_cutoff(0, 100.0) == 100.0
    for bad in (-1.0, math.nan):
        with pytest.raises(UsageError):
            prune_cutoff(bad, 100.0)
    assert last_batch(PRUNE_BATCH - 1)
    assert not last_batch(PRUNE_BATCH)
