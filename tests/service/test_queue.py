"""The job queue (SQLite and PostgreSQL alike) and the key store without a server: leases,
fencing, retries, limits, idempotency, restarts, hashed keys, the rate limiter, SLO arithmetic."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
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
from patchloop.service.backend import Store, open_store
from patchloop.service.jobs import JobResult, Lease, NewJob, RepairSpec, RepoSource
from patchloop.service.keys import KeyStore
from patchloop.service.queue import JobFilter, JobQueue, LeasePolicy, NewEvent
from patchloop.service.ratelimit import RateLimiter
from patchloop.service.settings import ServiceSettings, SloSettings
from patchloop.service.slo import slo_report

POLICY = LeasePolicy(lease_s=60, max_running=10, team_default=2, max_leases=2)
EXPIRED = POLICY.model_copy(update={"lease_s": -1.0})


def _new(team: str = "a", task: str = "", key: str | None = None) -> NewJob:
    spec = RepairSpec(repo=RepoSource(path="/srv/r"), task=task, timeout=60)
    return NewJob(spec=spec, team=team, key_id="k", idempotency_key=key, request_hash=task)


@dataclass
class Backend:
    """One store's settings; every :meth:`open` is a new process's view of the same data."""

    settings: ServiceSettings
    opened: list[Store]

    def open(self) -> Store:
        store = open_store(self.settings)
        self.opened.append(store)
        return store


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    found = Backend(ServiceSettings(data_dir=tmp_path, queue_url=url), [])
    yield found
    for store in found.opened:
        store.queue.close()


@pytest.fixture
def queue(backend: Backend) -> JobQueue:
    return backend.open().queue


def test_lease_order_and_team_limits(queue: JobQueue) -> None:
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


def test_expired_lease_is_retried_once_then_failed(queue: JobQueue) -> None:
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


def test_release_does_not_count_a_retry(queue: JobQueue) -> None:
    job, _ = queue.submit(_new())
    lease = queue.lease("w", POLICY)
    assert lease is not None
    queue.release(lease, "stopping")
    again = queue.lease("w", POLICY)
    assert again is not None
    assert (again.number, again.job.retries) == (1, 0)
    assert queue.get(job.id, None).status == "running"


def test_cancel_and_heartbeat(queue: JobQueue) -> None:
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


def test_idempotency(queue: JobQueue) -> None:
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


def test_slo_budget(queue: JobQueue, backend: Backend) -> None:
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
    report = {o.name: o for o in slo_report(backend.open().stats, slo).objectives}
    verified = report["verified_share"]
    assert (verified.events, verified.bad, verified.current) == (4, 1, 0.75)
    assert verified.budget_remaining == pytest.approx(0.5)  # 25% bad of 50% allowed
    infra = report["infra_failure_share"]
    assert (infra.events, infra.bad) == (5, 1)
    assert infra.budget_remaining == pytest.approx(0.5)  # 20% of 40% allowed
    assert report["time_to_verdict"].met


def test_events_keep_text_and_run_events_apart(queue: JobQueue) -> None:
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


def test_page_filters_and_cursor(queue: JobQueue) -> None:
    ids = [queue.submit(_new(task=f"#{i}"))[0].id for i in range(5)]
    queue.submit(_new(team="b"))
    lease = queue.lease("w", POLICY)  # the oldest: ids[0]
    assert lease is not None
    assert queue.finish(lease, "succeeded", JobResult(verdict="verified"))
    first = queue.page("a", JobFilter(), limit=2, cursor=None)
    assert [j.id for j in first.jobs] == ids[:2:-1]
    assert first.next_cursor is not None
    second = queue.page("a", JobFilter(), limit=2, cursor=first.next_cursor)
    assert [j.id for j in second.jobs] == [ids[2], ids[1]]
    third = queue.page("a", JobFilter(), limit=2, cursor=second.next_cursor)
    assert ([j.id for j in third.jobs], third.next_cursor) == ([ids[0]], None)
    done = queue.page("a", JobFilter(status="succeeded", verdict="verified"), limit=9, cursor=None)
    assert [j.id for j in done.jobs] == [ids[0]]
    assert not queue.page("a", JobFilter(kind="verify"), limit=9, cursor=None).jobs
    assert len(queue.page("a", JobFilter(repo="/srv/r"), limit=9, cursor=None).jobs) == 5
    created = queue.get(ids[3], "a").created_at
    later = queue.page("a", JobFilter(created_after=created), limit=9, cursor=None)
    assert [j.id for j in later.jobs] == [ids[4], ids[3]]
    earlier = queue.page("a", JobFilter(created_before=created), limit=9, cursor=None)
    assert [j.id for j in earlier.jobs] == ids[2::-1]


def _lease_all(backend: Backend, policy: LeasePolicy, threads: int) -> list[list[Lease]]:
    """``threads`` workers, each with its own store (as in its own process), leasing at once
    until nothing more may run."""
    stores = [backend.open() for _ in range(threads)]
    got: list[list[Lease]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            start.wait()
            while (lease := stores[index].queue.lease(f"w{index}", policy)) is not None:
                got[index].append(lease)
                # A worker then runs its job: the others lease meanwhile, even on a machine
                # so loaded that one thread could otherwise take every job before they start.
                time.sleep(0.002)
        except BaseException as exc:
            errors.append(exc)
        finally:
            stores[index].queue.close()

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not errors, errors
    return got


def test_concurrent_leases_never_share_a_job(queue: JobQueue, backend: Backend) -> None:
    ids = {queue.submit(_new(team=f"t{i % 3}"))[0].id for i in range(50)}
    policy = POLICY.model_copy(update={"max_running": 100, "team_default": 100})
    got = _lease_all(backend, policy, threads=4)
    leased = [lease.job.id for leases in got for lease in leases]
    assert sorted(leased) == sorted(ids)  # each job exactly once
    assert sum(1 for leases in got if leases) > 1  # the workers really did compete
    assert {queue.get(i, None).status for i in ids} == {"running"}
    assert all(len([e for e in queue.events(i) if e.kind == "job.start"]) == 1 for i in ids)


def test_limits_hold_under_concurrent_leases(queue: JobQueue, backend: Backend) -> None:
    for i in range(30):
        queue.submit(_new(team="big" if i % 2 else "small"))
    policy = POLICY.model_copy(
        update={"max_running": 7, "team_default": 5, "team_limits": {"small": 3}}
    )
    got = _lease_all(backend, policy, threads=4)
    teams = [lease.job.team for leases in got for lease in leases]
    assert (teams.count("big"), teams.count("small")) == (4, 3)


def test_a_restart_loses_nothing(backend: Backend) -> None:
    before = backend.open().queue
    done, _ = before.submit(_new(task="done", key="k1"))
    running, _ = before.submit(_new(task="running"))
    waiting, _ = before.submit(_new(task="waiting"))
    lease = before.lease("w", POLICY)
    assert lease is not None
    assert before.finish(lease, "succeeded", JobResult(verdict="verified"))
    held = before.lease("w", POLICY)
    assert held is not None
    assert held.job.id == running.id
    assert before.append(held, [NewEvent(kind="note", message="half way")])
    seen = {j: before.events(j) for j in (done.id, running.id, waiting.id)}
    before.close()

    after = backend.open().queue  # a new process on the same database
    assert {j: after.events(j) for j in seen} == seen
    assert after.get(done.id, "a").verdict == "verified"
    assert after.submit(_new(task="done", key="k1")) == (after.get(done.id, "a"), False)
    assert after.heartbeat(held, 60).held  # the running job's lease survived
    assert after.finish(held, "succeeded", JobResult(verdict="not_fixed"))
    next_up = after.lease("w2", POLICY)
    assert next_up is not None
    assert next_up.job.id == waiting.id
    assert after.lease("w2", POLICY) is None
    assert [j.id for j in after.page("a", JobFilter(), limit=9, cursor=None).jobs] == [
        waiting.id,
        running.id,
        done.id,
    ]
