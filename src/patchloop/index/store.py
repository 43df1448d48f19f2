"""The content-addressed store: one SQLite database (WAL) plus a lock file per index directory.

Chunk texts (with their BM25 tokens as ids into a shared vocabulary) and embeddings are stored
once, keyed by content; a file version's chunk list is
keyed by its blob id; a manifest (one per distinct tree) lists ``path -> file key``; a ref points
at a manifest. Writers serialise on an ``flock`` so that two processes indexing at once only
ever interleave whole transactions.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

from patchloop.errors import UsageError

__all__ = ["SCHEMA_VERSION", "Store", "default_index_dir"]

SCHEMA_VERSION = "2"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks(
    id INTEGER PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    token_ids BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS vocab(
    id INTEGER PRIMARY KEY,
    token TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS files(
    key TEXT PRIMARY KEY,
    lang TEXT NOT NULL,
    note TEXT NOT NULL,
    defs TEXT NOT NULL,
    refs TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS file_chunks(
    file_key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    chunk_id INTEGER NOT NULL,
    symbol TEXT NOT NULL,
    kind TEXT NOT NULL,
    start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    PRIMARY KEY(file_key, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS file_chunks_chunk ON file_chunks(chunk_id);
CREATE TABLE IF NOT EXISTS manifests(
    key TEXT PRIMARY KEY,
    files INTEGER NOT NULL,
    chunks INTEGER NOT NULL,
    created REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS manifest_files(
    manifest TEXT NOT NULL,
    path TEXT NOT NULL,
    file_key TEXT NOT NULL,
    PRIMARY KEY(manifest, path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS manifest_files_key ON manifest_files(file_key);
CREATE TABLE IF NOT EXISTS refs(
    repo TEXT NOT NULL,
    ref TEXT NOT NULL,
    commit_id TEXT,
    manifest TEXT NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY(repo, ref)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS embeddings(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    model TEXT NOT NULL,
    chunk_id INTEGER NOT NULL,
    vector BLOB NOT NULL,
    UNIQUE(model, chunk_id)
);
CREATE TABLE IF NOT EXISTS stat_cache(
    repo TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    blob TEXT NOT NULL,
    PRIMARY KEY(repo, path)
) WITHOUT ROWID;
"""


def default_index_dir() -> Path:
    """``$PATCHLOOP_INDEX__DIR``, else ``$XDG_CACHE_HOME/patchloop/index`` (``~/.cache``)."""
    explicit = os.environ.get("PATCHLOOP_INDEX__DIR")
    if explicit:
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "patchloop" / "index"


class Store:
    """An open index directory. Not shared between threads; open one per process or thread."""

    def __init__(self, directory: Path | None = None, *, create: bool = True) -> None:
        self.dir = (directory or default_index_dir()).expanduser().resolve()
        if create:
            _ensure_writable(self.dir)
        elif not (self.dir / "index.sqlite").exists():
            raise UsageError(
                f"no index in {self.dir}", hint="run `patchloop index` first or pass --index-dir"
            )
        self._lock_path = self.dir / "index.lock"
        try:
            self.db = sqlite3.connect(self.dir / "index.sqlite", timeout=60.0, isolation_level=None)
            self.db.execute("PRAGMA busy_timeout = 60000")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            if create:
                with self.write():
                    for statement in filter(str.strip, _SCHEMA.split(";")):
                        self.db.execute(statement)
                    self.db.execute(
                        "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', ?)",
                        (SCHEMA_VERSION,),
                    )
        except sqlite3.Error as exc:
            raise UsageError(
                f"cannot open the index database in {self.dir}: {exc}",
                hint="remove the directory to rebuild the index, or pass another --index-dir",
            ) from exc
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is not None and row[0] != SCHEMA_VERSION:
            raise UsageError(
                f"index in {self.dir} has schema {row[0]}, this version reads {SCHEMA_VERSION}",
                hint="remove the directory or pass another --index-dir",
            )

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the directory's exclusive writer lock."""
        with open(self._lock_path, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the writer lock; rolled back on any error."""
        with self.lock():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def path(self, *parts: str) -> Path:
        """A path inside the index directory (parents created)."""
        target = self.dir.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target


def _ensure_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".probe-"):
            pass
    except OSError as exc:
        raise UsageError(
            f"index directory {directory} is not writable: {exc.strerror or exc}",
            hint="pass a writable --index-dir or set PATCHLOOP_INDEX__DIR",
        ) from exc
