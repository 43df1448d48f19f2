"""The service's SQLite database: connections in WAL mode and append-only migrations.

Every process (the API and each worker) opens its own connection. Writes that must be atomic
across processes run in :func:`immediate` transactions, which take SQLite's write lock first.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from patchloop.errors import ConfigError

__all__ = ["connect", "immediate"]

#: Append only: a released database is upgraded by running the statements past its version.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
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
        created_at REAL NOT NULL,
        started_at REAL,
        first_started_at REAL,
        finished_at REAL,
        leases INTEGER NOT NULL DEFAULT 0,
        retries INTEGER NOT NULL DEFAULT 0,
        worker TEXT,
        lease_token TEXT,
        lease_expires REAL,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        result TEXT,
        record TEXT,
        tier TEXT,
        infra INTEGER NOT NULL DEFAULT 0,
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        cached_tokens INTEGER NOT NULL DEFAULT 0,
        sandbox_s REAL NOT NULL DEFAULT 0,
        UNIQUE (team, idem_key)
    );
    CREATE INDEX jobs_status ON jobs (status, seq);
    CREATE INDEX jobs_team ON jobs (team, seq);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL,
        at REAL NOT NULL,
        lease INTEGER NOT NULL DEFAULT 0,
        kind TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX events_job ON events (job_id, id);
    CREATE TABLE model_calls (
        job_id TEXT NOT NULL,
        backend TEXT NOT NULL,
        latency_s REAL NOT NULL,
        error INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        team TEXT NOT NULL,
        scopes TEXT NOT NULL,
        hash TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        revoked_at REAL
    );
    """,
    # 2: retention; a job whose events were pruned keeps its row and says when, and how many.
    """
    ALTER TABLE jobs ADD COLUMN events_pruned_at REAL;
    ALTER TABLE jobs ADD COLUMN events_pruned INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX jobs_unpruned ON jobs (finished_at) WHERE events_pruned_at IS NULL;
    """,
)


def _migrate(conn: sqlite3.Connection) -> None:
    with immediate(conn):
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        current = row[0] or 0
        if current > len(MIGRATIONS):
            raise ConfigError(
                f"the service database is newer ({current}) than this patchloop "
                f"({len(MIGRATIONS)})",
                hint="upgrade patchloop, or point data_dir elsewhere",
            )
        for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
            for statement in filter(str.strip, script.split(";")):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))


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
