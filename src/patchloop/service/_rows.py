"""Rows of the job store read back as domain objects: the SQLite and PostgreSQL tables have the
same columns, so both queues read them with the same code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import TypeAdapter

from patchloop.domain import Event, RunRecord
from patchloop.service.jobs import Job, JobEvent, JobResult, JobSpec

__all__ = [
    "COLUMNS",
    "Cursor",
    "Row",
    "job_event_from_row",
    "job_from_row",
]

_SPEC: TypeAdapter[JobSpec] = TypeAdapter(JobSpec)
#: How a stored library event begins (its first field); the service's own events are text.
_RUN_EVENT = '{"t":'
COLUMNS = (
    "seq, id, kind, team, repo, spec, status, verdict, created_at, started_at, "
    "first_started_at, finished_at, leases, retries, cancel_requested, worker, result, "
    "events_pruned_at"
)


class Row(Protocol):
    """A database row addressed by column name (``sqlite3.Row``, a psycopg ``dict_row``)."""

    def __getitem__(self, key: str, /) -> Any: ...


class Cursor(Protocol):
    """What the queues read of a statement's cursor (``sqlite3.Cursor``, a psycopg cursor)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Row | None: ...

    def fetchall(self) -> Sequence[Row]: ...


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
