"""What only the PostgreSQL queue has: a URL to get right, a server that may be away, and
a password that must never show."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from patchloop.errors import ConfigError
from patchloop.service._pg import MIGRATIONS
from patchloop.service.backend import describe_store, open_store
from patchloop.service.jobs import JobResult, NewJob, RepairSpec, RepoSource
from patchloop.service.pg_queue import PostgresQueue
from patchloop.service.queue import LeasePolicy
from patchloop.service.settings import ServiceSettings, load_service_settings
from tests.service._postgres import all_at_once
from tests.service.conftest import free_port

SECRET = "s3cret-pw"


def _unreachable() -> str:
    return f"postgresql://alice:{SECRET}@127.0.0.1:{free_port()}/jobs"


def test_unreachable_server_is_one_clear_error(tmp_path: Path) -> None:
    settings = ServiceSettings(data_dir=tmp_path / "data", queue_url=_unreachable())
    with pytest.raises(ConfigError) as caught:
        open_store(settings)
    text = f"{caught.value.message} {caught.value.hint}"
    assert "cannot connect to the queue database postgresql://alice@127.0.0.1:" in text
    assert SECRET not in text
    assert SECRET not in repr(settings)
    assert SECRET not in describe_store(settings)


def test_serve_refuses_to_start_without_its_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = subprocess.run(
        [sys.executable, "-m", "patchloop", "serve", "--workers", "0", "--data-dir", str(data),
         "--queue-url", _unreachable()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "cannot connect to the queue database" in done.stderr
    assert "127.0.0.1" in done.stderr
    assert SECRET not in done.stderr + done.stdout
    assert not data.exists()  # nothing half-created


def test_other_schemes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="queue_url") as caught:
        load_service_settings(None, {"queue_url": f"mysql://bob:{SECRET}@db/jobs"})
    assert SECRET not in caught.value.message
    assert caught.value.__cause__ is None  # pydantic's error would quote the password
    assert load_service_settings(None, {"queue_url": "postgres://db/jobs"}).queue_url


def test_metrics_read_postgres(pg_url: str, tmp_path: Path) -> None:
    from patchloop.domain import Attempt, RunRecord, Task

    store = open_store(ServiceSettings(data_dir=tmp_path, queue_url=pg_url))
    spec = RepairSpec(repo=RepoSource(path="/srv/r"), timeout=60)
    store.queue.submit(NewJob(spec=spec, team="a", key_id="k"))
    lease = store.queue.lease("w", LeasePolicy(lease_s=60, max_running=4))
    assert lease is not None
    attempt = Attempt(
        index=1, tier="vllm:x", iteration=1, status="model_error", timings={"model": 0.5}
    )
    record = RunRecord(
        id="r1",
        created_at="now",
        status="verified",
        task=Task(repo=Path("/srv/r")),
        attempts=(attempt,),
    )
    result = JobResult(verdict="verified", fixed_by="vllm", sandbox_s=1.5, record=record)
    assert store.queue.finish(lease, "succeeded", result)
    [row] = store.stats.counts()
    assert (row.kind, row.status, row.verdict, row.tier, row.jobs) == (
        "repair", "succeeded", "verified", "vllm", 1,
    )  # fmt: skip
    assert row.sandbox_s == 1.5
    waits = store.stats.durations("repair", "wait", [0.0, 60.0])
    assert (waits.count, waits.buckets[-1][1]) == (1, 1)
    latency, errors = store.stats.model_latency([1.0])["vllm"]
    assert (latency.count, latency.buckets, errors) == (1, ((1.0, 1),), 1)
    store.queue.close()


def test_processes_starting_together_migrate_once(pg_url: str, tmp_path: Path) -> None:
    settings = ServiceSettings(data_dir=tmp_path, queue_url=pg_url)

    def open_one() -> None:
        open_store(settings).queue.close()

    errors = all_at_once(open_one, 4)
    assert not errors, errors
    store = open_store(settings)
    assert isinstance(store.queue, PostgresQueue)
    versions = store.queue.db.tuples("SELECT version FROM schema_version ORDER BY version")
    assert versions == [(v,) for v in range(1, len(MIGRATIONS) + 1)]
    store.queue.close()
