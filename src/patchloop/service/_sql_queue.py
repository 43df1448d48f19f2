"""The job queue written once over SQL: every operation of
:class:`~patchloop.service.queue.JobQueue`, with the decisions of
:mod:`~patchloop.service._queue_logic` and the statements of :mod:`~patchloop.service._queue_sql`.

A backend names only its dialect: its connections and placeholders (:meth:`SqlQueue._execute`),
its transactions, how it locks (SQLite takes the database's write lock for every transaction;
PostgreSQL locks the rows a transaction relies on), how a submit honours an idempotency key
that another submit may be taking at the same moment, and how a lease picks its job.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Generic, TypeVar

from patchloop.service import _queue_sql as sql
from patchloop.service._queue_logic import (
    PRUNE_BATCH,
    Teams,
    at_capacity,
    cancel_step,
    check_found,
    check_replay,
    ended,
    event_values,
    last_batch,
    model_calls,
    new_job_id,
    new_lease_token,
    open_teams,
    prune_cutoff,
    queued,
    reclaim_step,
    requeued,
    started,
)
from patchloop.service._rows import Cursor, Row, job_event_from_row, job_from_row
from patchloop.service.jobs import Job, JobEvent, JobResult, JobStatus, Lease, NewJob
from patchloop.service.queue import Heartbeat, JobFilter, JobPage, LeasePolicy, NewEvent, Pruned

__all__ = ["SqlQueue"]

C = TypeVar("C")


class SqlQueue(ABC, Generic[C]):
    """:class:`~patchloop.service.queue.JobQueue` over a connection of type ``C``, one per
    thread. Leases are fenced by a random token: a worker whose lease was taken back (it missed
    its heartbeats) can no longer write anything about the job, so a job is never finished
    twice."""

    #: Appended to the select of a job's row that a transaction decides on: locks the row,
    #: where the database locks rows.
    LOCK_ROW: ClassVar[str] = ""
    #: Appended to the select of rows a transaction works through: locks them and passes over
    #: those another transaction holds, where the database locks rows.
    SKIP_LOCKED: ClassVar[str] = ""

    # ------------------------------------------------------------------ the dialect

    @property
    @abstractmethod
    def conn(self) -> C:
        """This thread's connection."""

    @abstractmethod
    def _transaction(self, conn: C) -> AbstractContextManager[object]:
        """A write transaction on ``conn``: committed at its end, rolled back on an error."""

    @abstractmethod
    def _execute(self, conn: C, statement: str, args: Sequence[Any] = ()) -> Cursor:
        """Run one statement of :mod:`~patchloop.service._queue_sql` (``?`` placeholders)."""

    @abstractmethod
    def _execute_many(self, conn: C, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement once per row of arguments."""

    @abstractmethod
    def _insert(self, conn: C, new: NewJob, job_id: str, now: float) -> Row | None:
        """Insert the job (:data:`~patchloop.service._queue_sql.INSERT_JOB`) unless the team
        used its idempotency key before: then, instead, the row holding the key
        (:data:`~patchloop.service._queue_sql.BY_KEY`)."""

    @abstractmethod
    def _pick(self, conn: C, teams: Teams) -> str | None:
        """The oldest queued job of a team that ``teams`` admits, safe to lease in this
        transaction; ``None`` when there is none."""

    @abstractmethod
    def close(self) -> None:
        """Close this thread's connection."""

    def _lock_leases(self, conn: C) -> None:
        """Keep the running counts a lease checks from changing until the transaction ends;
        nothing to do where every write transaction holds the database's write lock."""

    def _update_returning(
        self, conn: C, statement: str, args: Sequence[Any], job_id: str, column: str
    ) -> Row | None:
        """Run an update of the job ``job_id``, then read ``column`` of its row back; ``None``
        when the update changed no row."""
        if self._execute(conn, statement, args).rowcount == 0:
            return None
        return self._execute(conn, f"SELECT {column} FROM jobs WHERE id = ?", (job_id,)).fetchone()

    @staticmethod
    def _owned(job_id: str, row: Row | None, team: str | None) -> Row:
        """``row``, the job ``team`` asked for; ``NotFound`` when there is none to see."""
        check_found(job_id, None if row is None else row["team"], team)
        assert row is not None
        return row

    def _event(self, conn: C, job_id: str, event: NewEvent, lease: int = 0) -> None:
        self._execute(conn, sql.EVENT, event_values(job_id, event, lease, time.time()))

    # ------------------------------------------------------------------ API side

    def submit(self, new: NewJob) -> tuple[Job, bool]:
        conn = self.conn
        with self._transaction(conn):
            job_id = new_job_id(new.spec.kind)
            now = time.time()
            taken = self._insert(conn, new, job_id, now)
            if taken is not None:
                check_replay(taken["request_hash"], new.request_hash)
                return job_from_row(taken), False
            self._event(conn, job_id, queued(new.spec.kind, now))
        return self.get(job_id, new.team), True

    def get(self, job_id: str, team: str | None) -> Job:
        row = self._owned(job_id, self._execute(self.conn, sql.BY_ID, (job_id,)).fetchone(), team)
        return job_from_row(row, row["record"])

    def page(self, team: str, where: JobFilter, *, limit: int, cursor: int | None) -> JobPage:
        statement, args = sql.page_query(team, where, limit=limit, cursor=cursor)
        rows = self._execute(self.conn, statement, args).fetchall()
        jobs = tuple(job_from_row(r) for r in rows[:limit])
        return JobPage(jobs=jobs, next_cursor=jobs[-1].seq if len(rows) > limit else None)

    def cancel(self, job_id: str, team: str) -> Job:
        conn = self.conn
        with self._transaction(conn):
            found = self._execute(conn, sql.CANCEL_STATE + self.LOCK_ROW, (job_id,)).fetchone()
            row = self._owned(job_id, found, team)
            step = cancel_step(row["status"], bool(row["cancel_requested"]))
            if step is not None:
                if step.to == "cancelled":
                    self._execute(conn, sql.CANCEL_NOW, (time.time(), job_id))
                else:
                    self._execute(conn, sql.CANCEL_ASK, (job_id,))
                self._event(conn, job_id, step.event)
        return self.get(job_id, team)

    def events(self, job_id: str, *, after: int = 0, limit: int = 500) -> list[JobEvent]:
        rows = self._execute(self.conn, sql.EVENTS, (job_id, after, limit)).fetchall()
        return [job_event_from_row(row) for row in rows]

    # ------------------------------------------------------------------ worker side

    def lease(self, worker: str, policy: LeasePolicy) -> Lease | None:
        conn = self.conn
        now = time.time()
        # A cheap read first: idle workers poll often and should not queue for the lock.
        if self._execute(conn, sql.WAITING, (now,)).fetchone() is None:
            return None
        with self._transaction(conn):
            self._lock_leases(conn)
            self._reclaim(conn, now, policy.max_leases)
            running: dict[str, int] = {
                r["team"]: r["n"] for r in self._execute(conn, sql.RUNNING).fetchall()
            }
            if at_capacity(policy, running):
                return None
            picked = self._pick(conn, open_teams(policy, running))
            if picked is None:
                return None
            token = new_lease_token()
            args = (worker, token, now + policy.lease_s, now, now, picked)
            taken = self._update_returning(conn, sql.TAKE, args, picked, "leases")
            assert taken is not None  # the row is this transaction's to change
            number: int = taken["leases"]
            self._event(conn, picked, started(number, worker), lease=number)
        return Lease(job=self.get(picked, None), token=token, worker=worker, number=number)

    def _reclaim(self, conn: C, now: float, max_leases: int) -> None:
        """Take back the jobs whose lease expired before ``now``."""
        for row in self._execute(conn, sql.EXPIRED + self.SKIP_LOCKED, (now,)).fetchall():
            job_id, leases = row["id"], row["leases"]
            step = reclaim_step(row["worker"], leases, bool(row["cancel_requested"]), max_leases)
            if step.to == "cancelled":
                self._execute(conn, sql.LOST_CANCELLED, (now, job_id))
            elif step.to == "queued":
                self._execute(conn, sql.LOST_QUEUED, (job_id,))
            else:
                assert step.result is not None
                result = step.result.model_dump_json()
                self._execute(conn, sql.LOST_FAILED, (now, result, job_id))
            self._event(conn, job_id, step.event, lease=leases)

    def heartbeat(self, lease: Lease, lease_s: float) -> Heartbeat:
        args = (time.time() + lease_s, lease.job.id, lease.token)
        row = self._update_returning(self.conn, sql.RENEW, args, lease.job.id, "cancel_requested")
        if row is None:
            return Heartbeat(held=False)
        return Heartbeat(held=True, cancel_requested=bool(row["cancel_requested"]))

    def _holds(self, conn: C, lease: Lease) -> bool:
        """Whether ``lease`` is still held (until the transaction ends, where rows lock)."""
        args = (lease.job.id, lease.token)
        return self._execute(conn, sql.HOLDS + self.LOCK_ROW, args).fetchone() is not None

    def append(self, lease: Lease, events: Sequence[NewEvent]) -> bool:
        conn = self.conn
        with self._transaction(conn):
            if not self._holds(conn, lease):
                return False
            for event in events:
                self._event(conn, lease.job.id, event, lease=lease.number)
        return True

    def finish(self, lease: Lease, status: JobStatus, result: JobResult) -> bool:
        conn = self.conn
        with self._transaction(conn):
            if not self._holds(conn, lease):
                return False
            self._execute(
                conn, sql.FINISH, sql.finish_values(lease.job.id, status, result, time.time())
            )
            record = result.record
            calls = model_calls(lease.job.id, record) if record is not None else []
            if calls:
                self._execute_many(conn, sql.MODEL_CALL, calls)
            self._event(conn, lease.job.id, ended(status, result), lease=lease.number)
        return True

    def release(self, lease: Lease, reason: str) -> None:
        conn = self.conn
        with self._transaction(conn):
            if not self._holds(conn, lease):
                return
            self._execute(conn, sql.RELEASE, (lease.job.id,))
            self._event(conn, lease.job.id, requeued(reason), lease=lease.number)

    # ------------------------------------------------------------------ retention

    def prune(self, older_than_s: float, now: float) -> Pruned:
        cutoff = prune_cutoff(older_than_s, now)
        conn = self.conn
        select = sql.PRUNABLE + self.SKIP_LOCKED
        events = jobs = 0
        while True:
            with self._transaction(conn):
                ids = [
                    r["id"] for r in self._execute(conn, select, (cutoff, PRUNE_BATCH)).fetchall()
                ]
                for job_id in ids:
                    deleted = self._execute(conn, sql.PRUNE_EVENTS, (job_id,)).rowcount
                    self._execute(conn, sql.MARK_PRUNED, (now, deleted, job_id))
                    events += deleted
            jobs += len(ids)
            if last_batch(len(ids)):
                return Pruned(events=events, jobs=jobs)

    def ping(self) -> None:
        self._execute(self.conn, sql.PING).fetchall()
