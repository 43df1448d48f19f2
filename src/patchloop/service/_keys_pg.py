"""The API keys in PostgreSQL: the queue's database, so that every ``serve`` sharing a
``queue_url`` knows the same keys. The operations are
:class:`~patchloop.service._keys_sql.SqlKeys`'; this names the connections (the
per-thread ones of :class:`~patchloop.service._pg.PgDatabase`, shared with the queue where
there is one) and brings the ``api_keys`` table in.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import psycopg

from patchloop.errors import ConfigError
from patchloop.service._keys_sql import Execute, SqlKeys
from patchloop.service._pg import MIGRATE_LOCK, TYPES, PgDatabase, pg_sql
from patchloop.service._rows import Cursor
from patchloop.service._schema import KEY_VERSIONS, apply_migrations, key_scripts
from patchloop.service._urls import masked

__all__ = ["KEY_MIGRATIONS", "PostgresKeys"]

KEY_MIGRATIONS: tuple[str, ...] = key_scripts(TYPES)


def _migrate(db: PgDatabase) -> None:
    """Create the ``api_keys`` table once, under the lock the jobs' migrations take."""

    def too_new(current: int) -> ConfigError:
        return ConfigError(
            f"the API keys in the queue database {db.display} are newer ({current}) than this "
            f"patchloop ({len(KEY_MIGRATIONS)})",
            hint="upgrade patchloop, or point queue_url at another database",
        )

    conn = db.conn
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
            apply_migrations(
                lambda sql, args: conn.execute(pg_sql(sql), args),
                KEY_MIGRATIONS,
                too_new=too_new,
                versions=KEY_VERSIONS,
            )
    except psycopg.Error as exc:
        lines = str(exc).strip().splitlines()
        reason = masked(lines[0] if lines else type(exc).__name__, db.url)
        raise ConfigError(
            f"cannot prepare the queue database {db.display}: {reason}",
            hint="the queue_url's user needs to create tables in its database",
        ) from exc


class PostgresKeys(SqlKeys):
    """:class:`~patchloop.service.keys.Keys` in the ``api_keys`` table of a PostgreSQL
    database; one connection per thread (``db``'s), in autocommit mode."""

    def __init__(self, db: PgDatabase, *, owned: bool = True) -> None:
        self.db = db
        self._owned = owned
        try:
            _migrate(db)
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(cls, url: str, queue: object | None = None) -> PostgresKeys:
        """The keys of the database at ``url``, on the connections of ``queue`` when it is
        that database's queue (one connection per thread serves both); ``ConfigError`` when
        the database cannot be reached."""
        from patchloop.service.pg_queue import PostgresQueue

        if isinstance(queue, PostgresQueue) and queue.db.url == url:
            return cls(queue.db, owned=False)
        return cls(PgDatabase(url))

    def _execute(self, statement: str, args: Sequence[Any]) -> Cursor:
        return self.db.conn.execute(pg_sql(statement), args)

    def _session(self) -> AbstractContextManager[Execute]:
        return nullcontext(self._execute)

    def _hot(self) -> Execute:
        return self._execute

    def close(self) -> None:
        """Close this thread's connection, unless it is the queue's."""
        if self._owned:
            self.db.close()
