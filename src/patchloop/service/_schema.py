"""The job store's schema, written once for SQLite and PostgreSQL, and the bookkeeping that
brings a database up to it.

Migrations are append only: a released database is upgraded by running the scripts past its
version, which the ``schema_version`` table records. The tables and columns are the same in
both databases (so both queues read rows back with the same code); only the column types of
the dialect differ (:class:`Types`).

The API keys' table has migrations of its own (:func:`key_scripts`, versions in
``key_schema_version``): SQLite's first script has always created it, wherever the jobs were;
PostgreSQL gets it from these when its keys live there (``queue_url``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from patchloop.errors import ConfigError
from patchloop.service._rows import Cursor

__all__ = ["KEY_VERSIONS", "Types", "apply_migrations", "key_scripts", "pending", "scripts"]


@dataclass(frozen=True)
class Types:
    """A dialect's column types."""

    serial: str
    """An increasing integer primary key."""
    real: str
    """A float (times, seconds)."""
    bigint: str
    """A counter that may grow past 32 bits (tokens)."""


_JOBS = """
    CREATE TABLE jobs (
        seq {serial},
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
        created_at {real} NOT NULL,
        started_at {real},
        first_started_at {real},
        finished_at {real},
        leases INTEGER NOT NULL DEFAULT 0,
        retries INTEGER NOT NULL DEFAULT 0,
        worker TEXT,
        lease_token TEXT,
        lease_expires {real},
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        result TEXT,
        record TEXT,
        tier TEXT,
        infra INTEGER NOT NULL DEFAULT 0,
        prompt_tokens {bigint} NOT NULL DEFAULT 0,
        completion_tokens {bigint} NOT NULL DEFAULT 0,
        cached_tokens {bigint} NOT NULL DEFAULT 0,
        sandbox_s {real} NOT NULL DEFAULT 0,
        UNIQUE (team, idem_key)
    );
    CREATE INDEX jobs_status ON jobs (status, seq);
    CREATE INDEX jobs_team ON jobs (team, seq);
    CREATE TABLE events (
        id {serial},
        job_id TEXT NOT NULL,
        at {real} NOT NULL,
        lease INTEGER NOT NULL DEFAULT 0,
        kind TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX events_job ON events (job_id, id);
    CREATE TABLE model_calls (
        job_id TEXT NOT NULL,
        backend TEXT NOT NULL,
        latency_s {real} NOT NULL,
        error INTEGER NOT NULL DEFAULT 0
    );
    """
#: 2: retention; a job whose events were pruned keeps its row and says when, and how many.
_RETENTION = """
    ALTER TABLE jobs ADD COLUMN events_pruned_at {real};
    ALTER TABLE jobs ADD COLUMN events_pruned {bigint} NOT NULL DEFAULT 0;
    CREATE INDEX jobs_unpruned ON jobs (finished_at) WHERE events_pruned_at IS NULL;
    """
#: The API keys (:mod:`patchloop.service.keys`), as SQLite has them since its first script.
_API_KEYS = """
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        team TEXT NOT NULL,
        scopes TEXT NOT NULL,
        hash TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        created_at {real} NOT NULL,
        revoked_at {real}
    );
    """
#: The table that records the API keys' migrations, apart from the jobs' ``schema_version``.
KEY_VERSIONS = "key_schema_version"


def scripts(types: Types, *, first_also: str = "") -> tuple[str, ...]:
    """The migration scripts in ``types``; ``first_also`` ends the first script (tables only
    one database has)."""
    first = _JOBS.format(serial=types.serial, real=types.real, bigint=types.bigint)
    return first + first_also, _RETENTION.format(real=types.real, bigint=types.bigint)


def key_scripts(types: Types) -> tuple[str, ...]:
    """The API keys' migration scripts in ``types``, recorded in :data:`KEY_VERSIONS`."""
    return (_API_KEYS.format(real=types.real),)


def pending(current: int, migrations: Sequence[str]) -> list[tuple[int, list[str]]]:
    """The migrations a database at version ``current`` still needs: each version with its
    statements, in order."""
    return [
        (version, [s for s in script.split(";") if s.strip()])
        for version, script in enumerate(migrations[current:], start=current + 1)
    ]


def apply_migrations(
    execute: Callable[[str, Sequence[Any]], Cursor],
    migrations: Sequence[str],
    *,
    too_new: Callable[[int], ConfigError],
    versions: str = "schema_version",
) -> None:
    """Bring a database to the latest of ``migrations`` in the caller's transaction, running
    statements with ``execute`` (``?`` placeholders) and recording each version in the table
    ``versions``; ``too_new(version)`` is raised for a database a later release migrated."""
    execute(f"CREATE TABLE IF NOT EXISTS {versions} (version INTEGER NOT NULL)", ())
    row = execute(f"SELECT MAX(version) AS v FROM {versions}", ()).fetchone()
    current: int = (row["v"] if row is not None else None) or 0
    if current > len(migrations):
        raise too_new(current)
    for version, statements in pending(current, migrations):
        for statement in statements:
            execute(statement, ())
        execute(f"INSERT INTO {versions} (version) VALUES (?)", (version,))
