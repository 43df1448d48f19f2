"""The job queue seam: what the API and the workers need from durable storage.

:class:`~patchloop.service.sqlite_queue.SqliteQueue` is the embedded implementation (SQLite in
WAL mode, one file, any number of processes on one machine);
:class:`~patchloop.service.pg_queue.PostgresQueue` keeps the same jobs in PostgreSQL, for
workers on several machines. :func:`~patchloop.service.backend.open_queue` picks one by the
settings' ``queue_url``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from patchloop.service.jobs import Job, JobEvent, JobKind, JobResult, JobStatus, Lease, NewJob

__all__ = [
    "Heartbeat",
    "JobFilter",
    "JobPage",
    "JobQueue",
    "LeasePolicy",
    "NewEvent",
    "Pruned",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JobFilter(_Frozen):
    """Which of a team's jobs to list."""

    kind: JobKind | None = None
    status: JobStatus | None = None
    verdict: str | None = None
    repo: str | None = None
    created_after: float | None = None
    created_before: float | None = None


class JobPage(_Frozen):
    """One page of jobs, newest first; ``next_cursor`` fetches the next one."""

    jobs: tuple[Job, ...]
    next_cursor: int | None = None


class LeasePolicy(_Frozen):
    """Limits a lease respects."""

    lease_s: float
    max_running: int
    team_limits: Mapping[str, int] = Field(default_factory=dict)
    team_default: int = 2
    max_leases: int = 2


class Heartbeat(_Frozen):
    """What a worker learns when it renews its lease."""

    held: bool
    """False when the lease was lost (taken back after a missed heartbeat): stop the job."""
    cancel_requested: bool = False


class NewEvent(_Frozen):
    """An event about to be appended to a job's log."""

    kind: str
    message: str = ""
    body: str = ""
    """JSON of the library's event, when it is one."""
    at: float | None = None


class Pruned(_Frozen):
    """What one :meth:`JobQueue.prune` removed."""

    events: int = 0
    """Events deleted."""
    jobs: int = 0
    """Jobs whose event log was deleted; the jobs themselves, and their results, stay."""


class JobQueue(Protocol):
    """Durable jobs: submitted by the API, leased by workers, watched by clients."""

    def submit(self, new: NewJob) -> tuple[Job, bool]:
        """Queue ``new``; with an idempotency key already used by the team, return that job
        instead (``False``). Raise ``Conflict`` when the key came with another request."""
        ...

    def get(self, job_id: str, team: str | None) -> Job:
        """The job; ``NotFound`` when it does not exist or belongs to another team."""
        ...

    def page(self, team: str, where: JobFilter, *, limit: int, cursor: int | None) -> JobPage:
        """A page of ``team``'s jobs."""
        ...

    def cancel(self, job_id: str, team: str) -> Job:
        """Cancel a queued job at once; ask the worker of a running job to stop it."""
        ...

    def events(self, job_id: str, *, after: int = 0, limit: int = 500) -> list[JobEvent]:
        """The job's events with an id above ``after``, oldest first."""
        ...

    def lease(self, worker: str, policy: LeasePolicy) -> Lease | None:
        """Take back jobs whose lease expired, then hand the oldest runnable job to
        ``worker``; ``None`` when nothing may run now."""
        ...

    def heartbeat(self, lease: Lease, lease_s: float) -> Heartbeat:
        """Extend the lease by ``lease_s``."""
        ...

    def append(self, lease: Lease, events: Sequence[NewEvent]) -> bool:
        """Add events to the leased job's log; ``False`` when the lease is no longer held."""
        ...

    def finish(self, lease: Lease, status: JobStatus, result: JobResult) -> bool:
        """Store the result and end the job; ``False`` when the lease is no longer held."""
        ...

    def release(self, lease: Lease, reason: str) -> None:
        """Put the job back in the queue without counting a retry (the worker is stopping)."""
        ...

    def prune(self, older_than_s: float, now: float) -> Pruned:
        """Delete the events of jobs that finished (any terminal status) more than
        ``older_than_s`` seconds before ``now``, and mark those jobs pruned at ``now``; queued
        and running jobs are never touched. Running it again removes nothing more."""
        ...

    def ping(self) -> None:
        """Raise when the store does not answer (readiness)."""
        ...

    def close(self) -> None:
        """Close this thread's connection."""
        ...
