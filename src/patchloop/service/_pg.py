"""The service's PostgreSQL database: per-thread connections, migrations, a URL fit for logs.

The schema is :mod:`patchloop.service._schema`'s, as in SQLite (the same tables and columns),
so both queues read rows back with the same code. Migrations run under an advisory lock: the
API and every worker open the database at start-up, and only one of them creates the tables.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row, tuple_row

from patchloop.errors import ConfigError
from patchloop.service._schema import Types, apply_migrations, scripts
from patchloop.service._urls import display_url, masked

__all__ = ["LEASE_LOCK", "MIGRATIONS", "Connection", "PgDatabase", "pg_sql"]

#: Advisory lock keys (any two constants unlikely to be used by others in the database).
MIGRATE_LOCK = 0x7061_7463_6801
LEASE_LOCK = 0x7061_7463_6802
#: Seconds to wait for the server when connecting.
CONNECT_TIMEOUT_S = 10

#: PostgreSQL's column types: the same tables as in SQLite (the API keys' table has its own
#: migrations, ``_schema.key_scripts``).
TYPES = Types(serial="BIGSERIAL PRIMARY KEY", real="DOUBLE PRECISION", bigint="BIGINT")
MIGRATIONS: tuple[str, ...] = scripts(TYPES)

Connection = psycopg.Connection[DictRow]


def _reason(exc: BaseException, url: str) -> str:
    """The first line of a driver error, with any credential of ``url`` masked."""
    lines = str(exc).strip().splitlines()
    return masked(lines[0] if lines else type(exc).__name__, url)


def pg_sql(statement: str) -> bytes:
    """A statement written with SQLite's ``?`` placeholders, as psycopg takes it."""
    return statement.replace("?", "%s").encode()


def _migrate(conn: Connection, display: str) -> None:
    def too_new(current: int) -> ConfigError:
        return ConfigError(
            f"the queue database {display} is newer ({current}) than this patchloop "
            f"({len(MIGRATIONS)})",
            hint="upgrade patchloop, or point queue_url at another database",
        )

    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        apply_migrations(
            lambda sql, args: conn.execute(pg_sql(sql), args), MIGRATIONS, too_new=too_new
        )


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
