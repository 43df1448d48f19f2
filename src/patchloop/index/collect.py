"""Garbage collection: drop manifests no ref points at, then what no manifest references."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from patchloop.index.stats import GcStats
from patchloop.index.store import Store

__all__ = ["gc"]


def gc(store_dir: Path | None = None, *, prune_missing_repos: bool = True) -> GcStats:
    """Remove unreferenced manifests, file versions, chunks and embeddings.

    With ``prune_missing_repos`` the refs of repositories whose directory is gone go first.
    Raises ``UsageError`` when ``store_dir`` holds no index (nothing is created there).
    """
    started = time.perf_counter()
    with Store(store_dir, create=False) as store:
        with store.write() as db:
            counts: dict[str, int] = {}
            before = db.total_changes
            if prune_missing_repos:
                repos = [r[0] for r in db.execute("SELECT DISTINCT repo FROM refs")]
                for repo in repos:
                    if not Path(repo).is_dir():
                        db.execute("DELETE FROM refs WHERE repo = ?", (repo,))
                        db.execute("DELETE FROM stat_cache WHERE repo = ?", (repo,))
            counts["refs"] = db.total_changes - before
            counts["manifests"] = _delete(db, "manifests", "key NOT IN (SELECT manifest FROM refs)")
            db.execute(
                "DELETE FROM manifest_files WHERE manifest NOT IN (SELECT key FROM manifests)"
            )
            counts["files"] = _delete(
                db, "files", "key NOT IN (SELECT file_key FROM manifest_files)"
            )
            db.execute("DELETE FROM file_chunks WHERE file_key NOT IN (SELECT key FROM files)")
            orphans = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM chunks WHERE id NOT IN (SELECT chunk_id FROM file_chunks)"
                )
            ]
            counts["embeddings"] = _delete(
                db, "embeddings", "chunk_id NOT IN (SELECT chunk_id FROM file_chunks)"
            )
            counts["chunks"] = _delete(db, "chunks", "id NOT IN (SELECT chunk_id FROM file_chunks)")
            manifests = {r[0] for r in db.execute("SELECT key FROM manifests")}
            models = [r[0] for r in db.execute("SELECT DISTINCT model FROM embeddings")]
        lexical = store.dir / "lexical"
        if lexical.is_dir():
            for entry in lexical.iterdir():
                if entry.name.partition(".")[0] not in manifests:
                    shutil.rmtree(entry, ignore_errors=True)
        if orphans or counts["embeddings"]:
            _rewrite_vectors(store, models)
    return GcStats(**counts, seconds=round(time.perf_counter() - started, 4))


def _delete(db: sqlite3.Connection, table: str, where: str) -> int:
    return db.execute(f"DELETE FROM {table} WHERE {where}").rowcount


def _rewrite_vectors(store: Store, models: list[str]) -> None:
    from patchloop.index.vectors import VectorIndex

    vectors_dir = store.dir / "vectors"
    if vectors_dir.is_dir():
        for stale in vectors_dir.glob("*.faiss"):
            stale.unlink(missing_ok=True)
    for model in models:
        VectorIndex.load(store, model).save(store, model)
