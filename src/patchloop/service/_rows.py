"""Rows of the job store read back as domain objects, and the statements both queues share:
the SQLite and PostgreSQL tables have the same columns."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import TypeAdapter

from patchloop.domain import Event, RunRecord
from patchloop.errors import UsageError
from patchloop.service.jobs import Job, JobEvent, JobResult, JobSpec

__all__ = [
    "COLUMNS",
    "PRUNABLE",
    "PRUNE_BATCH",
    "Row",
    "job_event_from_row",
    "job_from_row",
    "prune_cutoff",
    "worker_lost",
]

_SPEC: TypeAdapter[JobSpec] = TypeAdapter(JobSpec)
#: How a stored library event begins (its first field); the service's own events are text.
_RUN_EVENT = '{"t":'
COLUMNS = (
    "seq, id, kind, team, repo, spec, status, verdict, created_at, started_at, "
    "first_started_at, finished_at, leases, retries, cancel_requested, worker, result, "
    "events_pruned_at"
)

#: Jobs whose events may be pruned (``?``: the cutoff, the batch size), oldest first: finished
#: before the cutoff and not pruned yet. Only terminal jobs have a ``finished_at``; the status
#: is checked as well, so a queued or running job is never touched.
PRUNABLE = (
    "SELECT id FROM jobs WHERE events_pruned_at IS NULL AND finished_at < ? "
    "AND status IN ('succeeded', 'failed', 'cancelled') ORDER BY finished_at LIMIT ?"
)
#: Jobs pruned per transaction: a short hold on the write lock, whatever the backlog.
PRUNE_BATCH = 200


def prune_cutoff(older_than_s: float, now: float) -> float:
    """Jobs that finished before this time have their events pruned."""
    if not older_than_s >= 0:
        raise UsageError(
            f"cannot prune events younger than {older_than_s} seconds",
            hint="give an age of 0 seconds or more",
        )
    return now - older_than_s


class Row(Protocol):
    """A database row addressed by column name (``sqlite3.Row``, a psycopg ``dict_row``)."""

    def __getitem__(self, key: str, /) -> Any: ...


def job_from_row(row: Row, record: str | None = None) -> Job:
    """The job of a row holding :data:`COLUMNS` (and its run record, when given)."""
    result = None
    if row["result"]:
        data = JobResult.model_validate_json(row["result"])
        if record:
            data = data.model_copy(update={"record": RunRecord.model_validate_json(record)})
        result = data
    return Job(
        id=row["id"],
        seq=row["seq"],
        kind=row["kind"],
        team=row["team"],
        repo=row["repo"],
        status=row["status"],
        verdict=row["verdict"],
        spec=_SPEC.validate_json(row["spec"]),
        created_at=row["created_at"],
        started_at=row["started_at"],
        first_started_at=row["first_started_at"],
        finished_at=row["finished_at"],
        leases=row["leases"],
        retries=row["retries"],
        cancel_requested=bool(row["cancel_requested"]),
        worker=row["worker"],
        result=result,
        events_pruned_at=row["events_pruned_at"],
    )


def job_event_from_row(row: Row) -> JobEvent:
    """An event row (``id, job_id, at, lease, kind, body``): a library event when its body is
    one, text otherwise."""
    body: str = row["body"]
    event = None
    message = body
    if body.startswith(_RUN_EVENT):
        event = Event.model_validate_json(body)
        message = event.message
    return JobEvent(
        id=row["id"],
        job_id=row["job_id"],
        at=row["at"],
        lease=row["lease"],
        kind=row["kind"],
        message=message,
        event=event,
    )


def worker_lost(lost: str, leases: int) -> JobResult:
    """The result of a job whose worker was lost on each of its ``leases`` tries."""
    return JobResult(
        verdict="error",
        error=f"{lost} on each of {leases} tries",
        hint="check the workers' logs and resources; submit the job again",
        error_kind="WorkerLost",
        infra=True,
    )
