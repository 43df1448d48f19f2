"""The service's PostgreSQL database: per-thread connections, migrations, a URL fit for logs.

The schema mirrors :mod:`patchloop.service._db` (the same tables and columns), so both queues
read rows back with the same code. Migrations run under an advisory lock: the API and every
worker open the database at start-up, and only one of them creates the tables.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row, tuple_row

from patchloop.errors import ConfigError
from patchloop.service._urls import display_url, masked

__all__ = ["LEASE_LOCK", "MIGRATIONS", "Connection", "PgDatabase"]

#: Advisory lock keys (any two constants unlikely to be used by others in the database).
MIGRATE_LOCK = 0x7061_7463_6801
LEASE_LOCK = 0x7061_7463_6802
#: Seconds to wait for the server when connecting.
CONNECT_TIMEOUT_S = 10

#: Append only, as in SQLite: a database is upgraded by running the scripts past its version.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        team TEXT NOT NULL,
        key_id TEXT NOT NULL,
        repo TEXT NOT NULL,
        spec TEXT NOT NULL,
        status TEXT NOT NULL,
        verdict TEXT,
        idem_key TEXT,
        request_hash TEXT NOT NULL DEFAULT '',
        created_at DOUBLE PRECISION NOT NULL,
        started_at DOUBLE PRECISION,
        first_started_at DOUBLE PRECISION,
        finished_at DOUBLE PRECISION,
        leases INTEGER NOT NULL DEFAULT 0,
        retries INTEGER NOT NULL DEFAULT 0,
        worker TEXT,
        lease_token TEXT,
        lease_expires DOUBLE PRECISION,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        result TEXT,
        record TEXT,
        tier TEXT,
        infra INTEGER NOT NULL DEFAULT 0,
        prompt_tokens BIGINT NOT NULL DEFAULT 0,
        completion_tokens BIGINT NOT NULL DEFAULT 0,
        cached_tokens BIGINT NOT NULL DEFAULT 0,
        sandbox_s DOUBLE PRECISION NOT NULL DEFAULT 0,
        UNIQUE (team, idem_key)
    );
    CREATE INDEX jobs_status ON jobs (status, seq);
    CREATE INDEX jobs_team ON jobs (team, seq);
    CREATE TABLE events (
        id BIGSERIAL PRIMARY KEY,
        job_id TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        lease INTEGER NOT NULL DEFAULT 0,
        kind TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX events_job ON events (job_id, id);
    CREATE TABLE model_calls (
        job_id TEXT NOT NULL,
        backend TEXT NOT NULL,
        latency_s DOUBLE PRECISION NOT NULL,
        error INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 2: retention, as in SQLite.
    """
    ALTER TABLE jobs ADD COLUMN events_pruned_at DOUBLE PRECISION;
    ALTER TABLE jobs ADD COLUMN events_pruned BIGINT NOT NULL DEFAULT 0;
    CREATE INDEX jobs_unpruned ON jobs (finished_at) WHERE events_pruned_at IS NULL;
    """,
)

Connection = psycopg.Connection[DictRow]


def _reason(exc: BaseException, url: str) -> str:
    """The first line of a driver error, with any credential of ``url`` masked."""
    lines = str(exc).strip().splitlines()
    return masked(lines[0] if lines else type(exc).__name__, url)


def _migrate(conn: Connection, display: str) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT MAX(version) AS v FROM schema_version").fetchone()
        current = (row["v"] if row else None) or 0
        if current > len(MIGRATIONS):
            raise ConfigError(
                f"the queue database {display} is newer ({current}) than this patchloop "
                f"({len(MIGRATIONS)})",
                hint="upgrade patchloop, or point queue_url at another database",
            )
        for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
            for statement in filter(str.strip, script.split(";")):
                conn.execute(statement.encode())
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))


class PgDatabase:
    """Connections to one PostgreSQL database, one per thread, in autocommit mode (multi-statement
    writes open explicit transactions). Opening it connects once and migrates the schema, so an
    unreachable server is reported before anything starts."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.display = display_url(url)
        self._local = threading.local()
        conn = self._connect()
        try:
            if migrate:
                _migrate(conn, self.display)
        except psycopg.Error as exc:
            conn.close()
            raise ConfigError(
                f"cannot prepare the queue database {self.display}: {_reason(exc, url)}",
                hint="the queue_url's user needs to create tables in its database",
            ) from exc
        except BaseException:
            conn.close()
            raise
        self._local.conn = conn

    def _connect(self) -> Connection:
        try:
            conn: Connection = psycopg.connect(
                self.url, autocommit=True, row_factory=dict_row, connect_timeout=CONNECT_TIMEOUT_S
            )
        except psycopg.Error as exc:
            raise ConfigError(
                f"cannot connect to the queue database {self.display}: {_reason(exc, self.url)}",
                hint="check that PostgreSQL runs there and that queue_url names it (user, "
                "password, database)",
            ) from exc
        return conn

    @property
    def conn(self) -> Connection:
        """This thread's connection, opened again when the last one was lost."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[DictRow]:
        """All rows of one statement."""
        return self.conn.execute(sql.encode(), args).fetchall()

    def tuples(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """All rows of one statement, as tuples."""
        with self.conn.cursor(row_factory=tuple_row) as cur:
            return cur.execute(sql.encode(), args).fetchall()

    def close(self) -> None:
        """Close this thread's connection."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
