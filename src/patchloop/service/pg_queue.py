"""The job queue in PostgreSQL: the same jobs, leases and events as the SQLite queue, for an
API and workers on several machines. The operations are
:class:`~patchloop.service._sql_queue.SqlQueue`'s; what differs is how they lock.

SQLite serializes every write; here each operation locks what it relies on instead:

- ``lease`` takes a transaction-scoped advisory lock, so the running counts it checks the
  limits against cannot change under it, and picks its job with ``FOR UPDATE SKIP LOCKED``, so
  two workers never get the same job (and a job being cancelled is passed over, not waited on).
- Every write about a job (an event, a finish, a cancel, a lease taken back) first locks the
  job's row. Writes about one job are therefore committed in the order their event ids were
  drawn, and a reader paging with ``after`` never skips an event committed late.
- Leases are fenced by a random token, as in SQLite: a worker whose lease was taken back can
  no longer write anything about the job.
- ``prune`` locks the finished jobs it prunes (skipping any locked by another pruner), so
  servers pruning at once never count an event twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from patchloop.service._pg import LEASE_LOCK, Connection, PgDatabase, pg_sql
from patchloop.service._queue_logic import Teams
from patchloop.service._queue_sql import BY_KEY, INSERT_JOB, job_values
from patchloop.service._rows import Cursor, Row
from patchloop.service._sql_queue import SqlQueue
from patchloop.service.jobs import NewJob

__all__ = ["PostgresQueue"]


class PostgresQueue(SqlQueue[Connection]):
    """:class:`~patchloop.service.queue.JobQueue` over a PostgreSQL database named by URL; one
    connection per thread."""

    LOCK_ROW = " FOR UPDATE"
    SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str) -> None:
        self.db = PgDatabase(url)

    @property
    def conn(self) -> Connection:
        """This thread's connection."""
        return self.db.conn

    def _transaction(self, conn: Connection) -> AbstractContextManager[object]:
        return conn.transaction()

    def _execute(self, conn: Connection, statement: str, args: Sequence[Any] = ()) -> Cursor:
        return conn.execute(pg_sql(statement), args)

    def _execute_many(
        self, conn: Connection, statement: str, rows: Sequence[Sequence[Any]]
    ) -> None:
        conn.cursor().executemany(pg_sql(statement), rows)

    def _update_returning(
        self, conn: Connection, statement: str, args: Sequence[Any], job_id: str, column: str
    ) -> Row | None:
        return self._execute(conn, f"{statement} RETURNING {column}", args).fetchone()

    def _insert(self, conn: Connection, new: NewJob, job_id: str, now: float) -> Row | None:
        # A concurrent submit with the same key waits on the unique index, then sees the
        # first one's row: the key is honoured without a table lock.
        inserted = self._execute(
            conn,
            f"{INSERT_JOB} ON CONFLICT (team, idem_key) DO NOTHING RETURNING id",
            job_values(new, job_id, now),
        ).fetchone()
        if inserted is not None:
            return None
        row = self._execute(conn, BY_KEY, (new.team, new.idempotency_key)).fetchone()
        assert row is not None  # the conflicting row is committed and never deleted
        return row

    def _lock_leases(self, conn: Connection) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LEASE_LOCK,))

    def _pick(self, conn: Connection, teams: Teams) -> str | None:
        where = "team <> ALL(?)" if teams.exclude else "team = ANY(?)"
        row = self._execute(
            conn,
            f"SELECT id FROM jobs WHERE status = 'queued' AND {where} ORDER BY seq LIMIT 1"
            + self.SKIP_LOCKED,
            (list(teams.names),),
        ).fetchone()
        return None if row is None else str(row["id"])

    def close(self) -> None:
        self.db.close()
