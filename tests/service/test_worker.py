"""A worker without a server: one job through the fork, the pipe and the queue."""

from __future__ import annotations

from pathlib import Path

from patchloop.service.jobs import NewJob, RepairSpec, RepoSource
from patchloop.service.settings import ServiceSettings
from patchloop.service.sqlite_queue import SqliteQueue
from patchloop.service.worker import Worker


def test_a_job_that_fails_reports_why(tmp_path: Path) -> None:
    settings = ServiceSettings(data_dir=tmp_path / "data", allowed_roots=(tmp_path,))
    queue = SqliteQueue(settings.db_path)
    spec = RepairSpec(repo=RepoSource(path=str(tmp_path / "gone")), timeout=60)
    job, _ = queue.submit(NewJob(spec=spec, team="t", key_id="k"))
    worker = Worker(settings, queue, "w-test")
    assert worker.run_once()
    assert not worker.run_once()  # nothing left
    done = queue.get(job.id, "t")
    assert (done.status, done.verdict) == ("failed", "error")
    assert done.result is not None
    assert "does not exist" in (done.result.error or "")
    assert done.result.error_kind == "RepositoryError"
    assert not done.result.infra
    assert done.result.process_s > 0
    assert [e.kind for e in queue.events(job.id)] == ["job.queued", "job.start", "job.end"]
    assert not (settings.data_dir / "work" / job.id).exists()  # scratch removed
