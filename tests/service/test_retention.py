"""Retention of the job log, with the jobs in SQLite and in PostgreSQL: the events of
long-finished jobs are pruned, the jobs and their results stay, queued and running jobs are
never touched, and a pruned job's event stream says what happened."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from patchloop.errors import UsageError
from patchloop.service.backend import Store, open_store
from patchloop.service.jobs import JobResult, NewJob, RepairSpec, RepoSource
from patchloop.service.queue import JobQueue, LeasePolicy, NewEvent, Pruned
from patchloop.service.retention import DAY_S, Retention
from patchloop.service.settings import ServiceSettings
from tests.service.conftest import PgShell, Server, events

POLICY = LeasePolicy(lease_s=60, max_running=10, team_default=10)
KEEP_S = 30 * DAY_S


def _new(team: str = "alpha") -> NewJob:
    spec = RepairSpec(repo=RepoSource(path="/srv/r"), timeout=60)
    return NewJob(spec=spec, team=team, key_id="k")


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> ServiceSettings:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    return ServiceSettings(data_dir=tmp_path / "data", queue_url=url)


@pytest.fixture
def store(settings: ServiceSettings) -> Iterator[Store]:
    opened = open_store(settings)
    yield opened
    opened.queue.close()


def _finished(queue: JobQueue, diff: str) -> str:
    """A repair run to a verified fix, with a run event in its log."""
    job, _ = queue.submit(_new())
    lease = queue.lease("w", POLICY)
    assert lease is not None
    assert lease.job.id == job.id
    assert queue.append(lease, [NewEvent(kind="note", message="half way")])
    assert queue.finish(lease, "succeeded", JobResult(verdict="verified", diff=diff))
    return job.id


def test_prune_deletes_old_logs_and_keeps_the_jobs(store: Store) -> None:
    queue = store.queue
    old = _finished(queue, "old diff")
    old_cancelled, _ = queue.submit(_new())
    queue.cancel(old_cancelled.id, "alpha")
    running, _ = queue.submit(_new())
    held = queue.lease("w", POLICY)
    assert held is not None
    assert held.job.id == running.id
    assert queue.append(held, [NewEvent(kind="note", message="still going")])
    recent = _finished(queue, "recent diff")
    waiting, _ = queue.submit(_new())
    old_end = queue.get(old_cancelled.id, None).finished_at
    recent_end = queue.get(recent, None).finished_at
    assert old_end is not None
    assert recent_end is not None
    assert old_end < recent_end
    kept = (running.id, waiting.id, recent)
    before = {j: queue.events(j) for j in (old, old_cancelled.id, *kept)}
    # A month after a moment between the old jobs' end and the recent one's.
    now = (old_end + recent_end) / 2 + KEEP_S

    pruned = queue.prune(KEEP_S, now)

    assert pruned == Pruned(events=len(before[old]) + len(before[old_cancelled.id]), jobs=2)
    assert len(before[old]) == 4  # queued, start, the note, end
    for job_id in (old, old_cancelled.id):
        assert queue.events(job_id) == []
        assert queue.get(job_id, "alpha").events_pruned_at == now
    job = queue.get(old, "alpha")
    assert (job.status, job.verdict) == ("succeeded", "verified")
    assert job.result is not None
    assert job.result.diff == "old diff"
    assert queue.get(old_cancelled.id, "alpha").status == "cancelled"
    for job_id in kept:
        assert queue.events(job_id) == before[job_id]
        assert queue.get(job_id, "alpha").events_pruned_at is None
    assert queue.prune(KEEP_S, now) == Pruned()  # nothing twice

    # Years later: the recent job goes too, the queued and running ones never do.
    later = queue.prune(KEEP_S, now + 1000 * DAY_S)
    assert later == Pruned(events=len(before[recent]), jobs=1)
    for job_id in (running.id, waiting.id):
        assert queue.events(job_id) == before[job_id]
    assert store.stats.pruned_events() == pruned.events + later.events
    # The running job still works as before: its log grows and it finishes.
    assert queue.append(held, [NewEvent(kind="note", message="done")])
    assert queue.finish(held, "succeeded", JobResult(verdict="not_fixed"))
    assert [e.kind for e in queue.events(running.id)][-2:] == ["note", "job.end"]


def test_retention_runs_at_once_then_hourly_and_zero_keeps_all(store: Store) -> None:
    queue = store.queue
    first = _finished(queue, "a")
    end = queue.get(first, None).finished_at
    assert end is not None
    now = end + 31 * DAY_S

    assert Retention(queue, 0).tick(now + 1000 * DAY_S) is None  # 0: keep forever
    assert len(queue.events(first)) == 4

    retention = Retention(queue, 30, every_s=3600)
    assert retention.tick(now) == Pruned(events=4, jobs=1)
    second = _finished(queue, "b")  # old enough too, at these times
    assert retention.tick(now + 60) is None  # not due yet: the log stays
    assert len(queue.events(second)) == 4
    assert retention.tick(now + 3600) == Pruned(events=4, jobs=1)
    assert retention.last == Pruned(events=4, jobs=1)
    assert queue.events(second) == []


def test_prune_refuses_a_negative_age(store: Store) -> None:
    with pytest.raises(UsageError):
        store.queue.prune(-1.0, 0.0)
    assert ServiceSettings().keep_events_days == 30


def _backdate(settings: ServiceSettings, job_id: str, by_s: float) -> None:
    """Move the job's end ``by_s`` seconds into the past."""
    sql = "UPDATE jobs SET finished_at = finished_at - ? WHERE id = ?"
    if settings.queue_url is not None:
        with PgShell(settings.queue_url) as db:
            db.execute(sql, (by_s, job_id))
        return
    with closing(sqlite3.connect(settings.db_path)) as conn, conn:
        conn.execute(sql, (by_s, job_id))


@pytest.mark.slow
def test_server_prunes_at_start_up_and_the_stream_says_so(
    settings: ServiceSettings, tmp_path: Path
) -> None:
    queue = open_store(settings).queue
    old, _ = queue.submit(_new())
    queue.cancel(old.id, "alpha")
    recent, _ = queue.submit(_new())
    queue.cancel(recent.id, "alpha")
    queue.close()
    _backdate(settings, old.id, 40 * DAY_S)
    roots = tmp_path / "roots"
    roots.mkdir()
    extra = {"queue_url": settings.queue_url} if settings.queue_url else {}
    server = Server(tmp_path, roots, workers=1, **extra)
    server.data_dir = settings.data_dir
    client = server.client(server.key("alpha"))
    server.start()  # ready only once the start-up prune has run
    try:
        [said] = events(client, old.id)
        assert said["kind"] == "job.pruned"
        assert said["message"].startswith("cancelled: no verdict; the job's event log was pruned")
        view = client.get(f"/v1/repairs/{old.id}").json()
        assert view["status"] == "cancelled"
        assert view["events_pruned_at"] == said["at"]
        assert [e["kind"] for e in events(client, recent.id)] == ["job.queued", "job.end"]
        assert client.get(f"/v1/repairs/{recent.id}").json()["events_pruned_at"] is None
        assert "patchloop_events_pruned_total 2.0" in client.get("/metrics").text
    finally:
        server.stop()


def test_serve_prune_command(tmp_path: Path) -> None:
    settings = ServiceSettings(data_dir=tmp_path / "data")
    queue = open_store(settings).queue
    old, _ = queue.submit(_new())
    queue.cancel(old.id, "alpha")
    recent, _ = queue.submit(_new())
    queue.cancel(recent.id, "alpha")
    queue.close()
    _backdate(settings, old.id, 3 * DAY_S)
    command = [sys.executable, "-m", "patchloop", "serve", "prune"]
    command += ["--data-dir", str(settings.data_dir), "--days", "2", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"events": 2, "jobs": 1}
    queue = open_store(settings).queue
    assert queue.events(old.id) == []
    assert [e.kind for e in queue.events(recent.id)] == ["job.queued", "job.end"]
    queue.close()


def test_a_failed_prune_is_logged_and_tried_next_period(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = ServiceSettings(data_dir=tmp_path / "data")
    queue = open_store(settings).queue
    with closing(sqlite3.connect(settings.db_path)) as conn:
        conn.execute("ALTER TABLE jobs RENAME TO jobs_away")
    retention = Retention(queue, 30, every_s=3600)
    assert retention.tick(1e9) is None
    assert "pruning the job log failed" in caplog.text
    assert retention.tick(1e9 + 60) is None  # not due again yet: no second try
    assert caplog.text.count("pruning the job log failed") == 1
    with closing(sqlite3.connect(settings.db_path)) as conn:
        conn.execute("ALTER TABLE jobs_away RENAME TO jobs")
    assert retention.tick(1e9 + 3600) == Pruned()
    queue.close()
