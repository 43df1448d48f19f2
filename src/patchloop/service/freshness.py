"""Index freshness: the latest index of each ref against what the ref points at now."""

from __future__ import annotations

from patchloop.service.jobs import RepoSource
from patchloop.service.queue import JobFilter, JobQueue
from patchloop.service.schemas import IndexList, IndexState
from patchloop.service.settings import ServiceSettings
from patchloop.service.sources import current_commit

__all__ = ["freshness"]

#: Index jobs looked at, newest first.
SCAN = 200


def freshness(
    queue: JobQueue, settings: ServiceSettings, team: str, repository: str | None
) -> IndexList:
    """One entry per (repository, ref) the team indexed, newest index first."""
    where = JobFilter(kind="index", status="succeeded", repo=repository)
    seen: set[tuple[str, str]] = set()
    states = []
    for job in queue.page(team, where, limit=SCAN, cursor=None).jobs:
        stats = job.result.index if job.result else None
        source = job.spec.repo
        if stats is None or job.finished_at is None:
            continue
        ident = (job.repo, source.ref or "")
        if ident in seen:
            continue
        seen.add(ident)
        now = current_commit(
            RepoSource(path=source.path, url=source.url, ref=source.ref),
            schemes=settings.git_schemes,
            timeout=settings.git_timeout_s,
        )
        states.append(
            IndexState(
                repository=job.repo,
                ref=source.ref or "WORKTREE",
                commit=stats.commit,
                indexed_at=job.finished_at,
                job_id=job.id,
                files=stats.files,
                chunks=stats.chunks,
                current_commit=now,
                fresh=None if now is None else now == stats.commit,
            )
        )
    return IndexList(indexes=states)
