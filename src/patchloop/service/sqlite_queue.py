"""The embedded job queue: SQLite in WAL mode, safe across the API and worker processes.

Every write runs in an ``IMMEDIATE`` transaction, which holds the database's write lock from its
start: what a transaction reads cannot change under it, so no row needs a lock of its own. The
operations themselves are :class:`~patchloop.service._sql_queue.SqlQueue`'s.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from patchloop.service._db import connect, immediate
from patchloop.service._queue_logic import Teams
from patchloop.service._queue_sql import BY_KEY, INSERT_JOB, job_values
from patchloop.service._rows import Cursor, Row
from patchloop.service._sql_queue import SqlQueue
from patchloop.service.jobs import NewJob

__all__ = ["SqliteQueue"]


class SqliteQueue(SqlQueue[sqlite3.Connection]):
    """:class:`~patchloop.service.queue.JobQueue` over one SQLite file; one connection per
    thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        connect(path).close()  # create and migrate once, up front

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, migrate=False)
            self._local.conn = conn
        return conn

    def _transaction(self, conn: sqlite3.Connection) -> AbstractContextManager[object]:
        return immediate(conn)

    def _execute(
        self, conn: sqlite3.Connection, statement: str, args: Sequence[Any] = ()
    ) -> Cursor:
        return conn.execute(statement, args)

    def _execute_many(
        self, conn: sqlite3.Connection, statement: str, rows: Sequence[Sequence[Any]]
    ) -> None:
        conn.executemany(statement, rows)

    def _insert(self, conn: sqlite3.Connection, new: NewJob, job_id: str, now: float) -> Row | None:
        # The transaction holds the write lock: no other submit takes the key in between.
        if new.idempotency_key is not None:
            row: Row | None = conn.execute(BY_KEY, (new.team, new.idempotency_key)).fetchone()
            if row is not None:
                return row
        conn.execute(INSERT_JOB, job_values(new, job_id, now))
        return None

    def _pick(self, conn: sqlite3.Connection, teams: Teams) -> str | None:
        for row in conn.execute("SELECT id, team FROM jobs WHERE status = 'queued' ORDER BY seq"):
            if teams.admits(row["team"]):
                return str(row["id"])
        return None

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
