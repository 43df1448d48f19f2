"""The schema both stores share and the bookkeeping that migrates a database: the SQLite and
PostgreSQL scripts make the same tables and columns, and a database is migrated once."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from patchloop.errors import ConfigError
from patchloop.service import _db, _pg
from patchloop.service._schema import apply_migrations, pending


def _migrated(migrations: tuple[str, ...]) -> sqlite3.Connection:
    """An in-memory SQLite database migrated with ``migrations`` (SQLite takes PostgreSQL's
    type names as they are)."""
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    apply_migrations(conn.execute, migrations, too_new=lambda v: ConfigError(f"too new: {v}"))
    return conn


def _columns(conn: sqlite3.Connection) -> dict[str, list[str]]:
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {
        t: [c["name"] for c in conn.execute(f"PRAGMA table_info({t})")]
        for t in tables
        if not t.startswith("sqlite_")
    }


def test_both_dialects_make_the_same_tables_and_columns() -> None:
    with closing(_migrated(_db.MIGRATIONS)) as lite, closing(_migrated(_pg.MIGRATIONS)) as pg:
        sqlite_tables, pg_tables = _columns(lite), _columns(pg)
    assert "events_pruned_at" in sqlite_tables["jobs"]
    assert sqlite_tables.pop("api_keys")  # the keys stay in SQLite, wherever the jobs are
    assert sqlite_tables == pg_tables
    assert len(_db.MIGRATIONS) == len(_pg.MIGRATIONS)


def test_the_dialects_differ_only_in_column_types() -> None:
    assert "AUTOINCREMENT" in _db.MIGRATIONS[0]
    assert "DOUBLE PRECISION" not in "".join(_db.MIGRATIONS)
    assert "BIGSERIAL PRIMARY KEY" in _pg.MIGRATIONS[0]
    assert " REAL" not in "".join(_pg.MIGRATIONS)


def test_pending_runs_the_scripts_past_the_current_version() -> None:
    scripts = ("CREATE TABLE a (x INT); CREATE TABLE b (y INT);\n", "DROP TABLE a;")
    assert pending(0, scripts) == [
        (1, ["CREATE TABLE a (x INT)", " CREATE TABLE b (y INT)"]),
        (2, ["DROP TABLE a"]),
    ]
    assert pending(1, scripts) == [(2, ["DROP TABLE a"])]
    assert pending(2, scripts) == []


def test_migrating_again_changes_nothing_and_a_newer_database_is_refused() -> None:
    with closing(_migrated(_db.MIGRATIONS[:1])) as conn:
        versions = "SELECT version FROM schema_version ORDER BY version"
        assert [r[0] for r in conn.execute(versions)] == [1]
        apply_migrations(conn.execute, _db.MIGRATIONS, too_new=ConfigError)
        apply_migrations(conn.execute, _db.MIGRATIONS, too_new=ConfigError)
        assert [r[0] for r in conn.execute(versions)] == [1, 2]
        with pytest.raises(ConfigError, match="too new: 2"):
            apply_migrations(
                conn.execute, _db.MIGRATIONS[:1], too_new=lambda v: ConfigError(f"too new: {v}")
            )
