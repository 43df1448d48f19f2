"""The service's SQLite database: connections in WAL mode, migrated to the schema of
:mod:`patchloop.service._schema`.

Every process (the API and each worker) opens its own connection. Writes that must be atomic
across processes run in :func:`immediate` transactions, which take SQLite's write lock first.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from patchloop.errors import ConfigError
from patchloop.service._schema import Types, apply_migrations, scripts

__all__ = ["connect", "immediate"]

#: SQLite's column types. Its first script also creates the API keys' table (for a service
#: whose queue is PostgreSQL, the keys live there: see ``_schema.key_scripts``).
TYPES = Types(serial="INTEGER PRIMARY KEY AUTOINCREMENT", real="REAL", bigint="INTEGER")
_API_KEYS = """CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        team TEXT NOT NULL,
        scopes TEXT NOT NULL,
        hash TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        revoked_at REAL
    );
    """
MIGRATIONS: tuple[str, ...] = scripts(TYPES, first_also=_API_KEYS)


def _too_new(current: int) -> ConfigError:
    return ConfigError(
        f"the service database is newer ({current}) than this patchloop ({len(MIGRATIONS)})",
        hint="upgrade patchloop, or point data_dir elsewhere",
    )


def _migrate(conn: sqlite3.Connection) -> None:
    with immediate(conn):
        apply_migrations(conn.execute, MIGRATIONS, too_new=_too_new)


def connect(path: Path, *, migrate: bool = True) -> sqlite3.Connection:
    """Open the database (created when missing) in WAL mode, migrated to the latest schema."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=ON")
        if migrate:
            _migrate(conn)
    except sqlite3.Error as exc:
        raise ConfigError(
            f"cannot open the service database {path}: {exc}",
            hint="check data_dir and its permissions",
        ) from exc
    return conn


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction that holds the database's write lock from its start."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
