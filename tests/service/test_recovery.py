"""Durability: a worker killed with -9 mid-job, a server restart with queued jobs, and many
queued repairs on two workers: every job finishes exactly once, with the jobs in SQLite or in
PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.conftest import (
    PATIENCE_S,
    events,
    finish,
    first_event,
    quickstart,
    slow_repo,
    submit,
)

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Service settings that put the jobs in SQLite (none) or in a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return {}
    return {"queue_url": request.getfixturevalue("pg_url")}


def _worker_of(server: Any, job_id: str) -> tuple[str, int]:
    with server.db() as db:
        worker = db.execute("SELECT worker FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]
    from tests.service.test_repairs import _worker_pid

    return worker, _worker_pid(server, worker)


def test_worker_killed_mid_job_is_retried_once(
    server_factory: Any, roots: Path, store: dict[str, Any]
) -> None:
    repo = slow_repo(roots)
    server = server_factory(workers=2, **store)
    client = server.client(server.key("alpha"))
    job = submit(client, {"repository": {"path": str(repo)}})
    first_event(client, job["id"], "baseline.start")
    name, pid = _worker_of(server, job["id"])
    os.kill(pid, signal.SIGKILL)

    view = finish(client, job["id"])
    assert view["status"] == "succeeded"
    assert view["verdict"] == "verified"
    assert view["retries"] == 1
    assert view["leases"] == 2
    kinds = [e["kind"] for e in events(client, job["id"])]
    assert kinds.count("job.start") == 2
    assert kinds.count("job.retry") == 1
    assert kinds.count("job.end") == 1
    retry = next(e for e in events(client, job["id"]) if e["kind"] == "job.retry")
    assert name in retry["message"]
    # The lost worker is replaced.
    deadline = time.monotonic() + PATIENCE_S
    while client.get("/readyz").json()["workers"] < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.get("/readyz").json()["workers"] == 2


def test_restart_loses_nothing_accepted(
    server_factory: Any, roots: Path, tmp_path: Path, store: dict[str, Any]
) -> None:
    repo = quickstart(roots)
    data = tmp_path / "shared-data"
    first = server_factory("first", workers=0, data_dir=data, **store)
    token = first.key("alpha")
    client = first.client(token)
    jobs = [submit(client, {"repository": {"path": str(repo)}, "task": f"#{i}"}) for i in range(3)]
    first.kill()  # not even a clean stop

    second = server_factory("second", workers=2, data_dir=data, **store)
    client = second.client(token)
    views = [finish(client, j["id"]) for j in jobs]
    assert [v["verdict"] for v in views] == ["verified"] * 3
    assert all(v["retries"] == 0 for v in views)


def test_many_queued_repairs_finish_exactly_once(
    server_factory: Any, roots: Path, store: dict[str, Any]
) -> None:
    repo = quickstart(roots)
    count = int(os.environ.get("PATCHLOOP_TEST_SERVICE_JOBS", "6"))
    server = server_factory(workers=2, team_concurrency=2, **store)
    client = server.client(server.key("alpha"))
    ids = [
        submit(client, {"repository": {"path": str(repo)}, "task": f"#{i}"})["id"]
        for i in range(count)
    ]
    assert len(set(ids)) == count
    views = [finish(client, job_id) for job_id in ids]
    assert [v["verdict"] for v in views] == ["verified"] * count
    with server.db() as db:
        starts = dict(
            db.execute(
                "SELECT job_id, COUNT(*) FROM events WHERE kind = 'job.start' GROUP BY job_id"
            ).fetchall()
        )
        ends = dict(
            db.execute(
                "SELECT job_id, COUNT(*) FROM events WHERE kind = 'job.end' GROUP BY job_id"
            ).fetchall()
        )
    assert starts == dict.fromkeys(ids, 1)
    assert ends == dict.fromkeys(ids, 1)
    assert len({v["run_ids"][0] for v in views}) == count


def test_stop_hands_the_running_job_back(
    server_factory: Any, roots: Path, tmp_path: Path, store: dict[str, Any]
) -> None:
    repo = slow_repo(roots)
    data = tmp_path / "shared-data"
    first = server_factory("first", workers=1, data_dir=data, **store)
    token = first.key("alpha")
    client = first.client(token)
    job = submit(client, {"repository": {"path": str(repo)}})
    first_event(client, job["id"], "baseline.start")
    # An open event stream must not keep the server from stopping.
    watcher = threading.Thread(target=_drain, args=(first.url, token, job["id"]))
    watcher.start()
    first.stop()
    watcher.join(timeout=PATIENCE_S)
    assert not watcher.is_alive()
    with first.db() as db:
        row = db.execute("SELECT status, leases FROM jobs WHERE id = ?", (job["id"],)).fetchone()
    assert tuple(row) == ("queued", 0)

    second = server_factory("second", workers=1, data_dir=data, **store)
    view = finish(second.client(token), job["id"])
    assert view["verdict"] == "verified"
    assert view["retries"] == 0
    kinds = [e["kind"] for e in events(second.client(token), job["id"])]
    assert kinds.count("job.requeued") == 1
    assert kinds.count("job.end") == 1


def _drain(url: str, token: str, job_id: str) -> None:
    """Follow the job's events until the server closes the stream."""
    headers = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(base_url=url, headers=headers, timeout=PATIENCE_S) as client,
        contextlib.suppress(httpx.HTTPError),
    ):
        events(client, job_id)
