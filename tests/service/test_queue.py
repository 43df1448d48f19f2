"""The SQLite queue and the key store without a server: leases, fencing, retries, limits,
idempotency, hashed keys, the rate limiter, SLO arithmetic."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from patchloop.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    TooManyRequests,
    UsageError,
)
from patchloop.service.jobs import JobResult, NewJob, RepairSpec, RepoSource
from patchloop.service.keys import KeyStore
from patchloop.service.queue import LeasePolicy, NewEvent
from patchloop.service.ratelimit import RateLimiter
from patchloop.service.settings import SloSettings
from patchloop.service.slo import slo_report
from patchloop.service.sqlite_queue import SqliteQueue
from patchloop.service.stats import SqliteStats

POLICY = LeasePolicy(lease_s=60, max_running=10, team_default=2, max_leases=2)
EXPIRED = POLICY.model_copy(update={"lease_s": -1.0})


def _new(team: str = "a", task: str = "", key: str | None = None) -> NewJob:
    spec = RepairSpec(repo=RepoSource(path="/srv/r"), task=task, timeout=60)
    return NewJob(spec=spec, team=team, key_id="k", idempotency_key=key, request_hash=task)


@pytest.fixture
def queue(tmp_path: Path) -> SqliteQueue:
    return SqliteQueue(tmp_path / "service.db")


def test_lease_order_and_team_limits(queue: SqliteQueue) -> None:
    a1, _ = queue.submit(_new("a"))
    a2, _ = queue.submit(_new("a"))
    a3, _ = queue.submit(_new("a"))
    b1, _ = queue.submit(_new("b"))
    policy = POLICY.model_copy(update={"team_limits": {"a": 2}})
    got = [queue.lease("w", policy) for _ in range(4)]
    assert [g.job.id if g else None for g in got] == [a1.id, a2.id, b1.id, None]
    first = got[0]
    assert first is not None
    assert queue.finish(first, "succeeded", JobResult(verdict="verified"))
    third = queue.lease("w", policy)
    assert third is not None
    assert third.job.id == a3.id
    assert queue.lease("w", POLICY.model_copy(update={"max_running": 3})) is None


def test_expired_lease_is_retried_once_then_failed(queue: SqliteQueue) -> None:
    job, _ = queue.submit(_new())
    lost = queue.lease("w1", EXPIRED)
    assert lost is not None
    retry = queue.lease("w2", EXPIRED)  # takes the expired job back first, then leases it
    assert retry is not None
    assert (retry.job.id, retry.number, retry.job.retries) == (job.id, 2, 1)
    # The first worker's writes are fenced off: it cannot finish, append or heartbeat.
    assert not queue.finish(lost, "succeeded", JobResult(verdict="verified"))
    assert not queue.append(lost, [NewEvent(kind="x")])
    assert not queue.heartbeat(lost, 60).held
    assert queue.lease("w3", POLICY) is None  # the retry expired too: the job fails
    final = queue.get(job.id, "a")
    assert final.status == "failed"
    assert final.result is not None
    assert final.result.infra
    kinds = [e.kind for e in queue.events(job.id)]
    assert kinds == ["job.queued", "job.start", "job.retry", "job.start", "job.end"]


def test_release_does_not_count_a_retry(queue: SqliteQueue) -> None:
    job, _ = queue.submit(_new())
    lease = queue.lease("w", POLICY)
    assert lease is not None
    queue.release(lease, "stopping")
    again = queue.lease("w", POLICY)
    assert again is not None
    assert (again.number, again.job.retries) == (1, 0)
    assert queue.get(job.id, None).status == "running"


def test_cancel_and_heartbeat(queue: SqliteQueue) -> None:
    queued, _ = queue.submit(_new())
    running, _ = queue.submit(_new())
    queue.cancel(queued.id, "a")
    lease = queue.lease("w", POLICY)
    assert lease is not None
    assert lease.job.id == running.id  # the cancelled job is never leased
    assert not queue.heartbeat(lease, 60).cancel_requested
    assert queue.cancel(running.id, "a").cancel_requested
    assert queue.heartbeat(lease, 60).cancel_requested
    with pytest.raises(NotFound):
        queue.cancel(running.id, "b")


def test_idempotency(queue: SqliteQueue) -> None:
    first, created = queue.submit(_new(task="x", key="k"))
    again, created_again = queue.submit(_new(task="x", key="k"))
    assert (created, created_again, again.id) == (True, False, first.id)
    with pytest.raises(Conflict):
        queue.submit(_new(task="y", key="k"))
    assert queue.submit(_new(team="b", task="x", key="k"))[1]


def test_keys_are_stored_hashed(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "service.db")
    made = store.add("payments", ["repo:/srv/payments/*"], note="ci")
    secret = made.token.split("_", 2)[2]
    assert secret.encode() not in (tmp_path / "service.db").read_bytes()
    with sqlite3.connect(tmp_path / "service.db") as db:
        stored = db.execute("SELECT hash FROM api_keys").fetchone()[0]
    assert secret not in stored
    key = store.authenticate(made.token)
    assert key.team == "payments"
    key.require_repo("/srv/payments/api")
    with pytest.raises(PermissionDenied):
        key.require_repo("/srv/billing/api")
    with pytest.raises(AuthenticationFailed):
        store.authenticate(made.token[:-1] + ("A" if made.token[-1] != "A" else "B"))
    store.revoke(key.id)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        store.authenticate(made.token)
    with pytest.raises(UsageError, match="scope"):
        store.add("t", ["admin"])
    with pytest.raises(UsageError, match="team"):
        store.add("no spaces", ["repo:*"])


def test_rate_limiter() -> None:
    limiter = RateLimiter(rate_per_minute=60, burst=2)
    limiter.take("a")
    limiter.take("a")
    with pytest.raises(TooManyRequests) as caught:
        limiter.take("a")
    assert caught.value.retry_after >= 1
    limiter.take("b")


def test_slo_budget(queue: SqliteQueue, tmp_path: Path) -> None:
    for verdict in ("verified", "verified", "verified", "not_fixed"):
        queue.submit(_new())
        lease = queue.lease("w", POLICY)
        assert lease is not None
        queue.finish(lease, "succeeded", JobResult(verdict=verdict))
    queue.submit(_new())
    lease = queue.lease("w", POLICY)
    assert lease is not None
    queue.finish(lease, "failed", JobResult(verdict="error", infra=True))
    slo = SloSettings(verified_share=0.5, infra_failure_share=0.4, time_to_verdict_s=3600)
    report = {o.name: o for o in slo_report(SqliteStats(tmp_path / "service.db"), slo).objectives}
    verified = report["verified_share"]
    assert (verified.events, verified.bad, verified.current) == (4, 1, 0.75)
    assert verified.budget_remaining == pytest.approx(0.5)  # 25% bad of 50% allowed
    infra = report["infra_failure_share"]
    assert (infra.events, infra.bad) == (5, 1)
    assert infra.budget_remaining == pytest.approx(0.5)  # 20% of 40% allowed
    assert report["time_to_verdict"].met


def test_events_keep_text_and_run_events_apart(queue: SqliteQueue) -> None:
    from patchloop.domain import Event

    job, _ = queue.submit(_new())
    lease = queue.lease("w", POLICY)
    assert lease is not None
    run_event = Event(t=0.5, kind="baseline.end", message="1 failing", data={"failing": 1})
    assert queue.append(
        lease,
        [
            NewEvent(kind="note", message="{braces in plain text"),
            NewEvent(kind="baseline.end", message="1 failing", body=run_event.model_dump_json()),
        ],
    )
    found = queue.events(job.id, after=2)  # after job.queued and job.start
    assert [(e.kind, e.message, e.event) for e in found] == [
        ("note", "{braces in plain text", None),
        ("baseline.end", "1 failing", run_event),
    ]
    assert [e.id for e in queue.events(job.id, after=found[0].id)] == [found[1].id]
