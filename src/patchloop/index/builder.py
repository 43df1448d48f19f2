"""Index one ref: chunk unseen file versions, write its manifest, then lexical and dense indexes.

Every phase commits in batches, so an interrupted run resumes where it stopped, and every write
is content-addressed (``INSERT OR IGNORE``), so two processes indexing at once only duplicate
work, never data.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from patchloop.index.chunking import CHUNKER_VERSION, FileChunks, chunk_file
from patchloop.index.gitsource import (
    WORKTREE,
    SourceFile,
    list_files,
    read_blobs,
    repo_root,
    resolve_ref,
)
from patchloop.index.languages import language_for
from patchloop.index.lexical import Lexical
from patchloop.index.rows import load_rows
from patchloop.index.stats import IndexStats, Progress
from patchloop.index.store import Store
from patchloop.index.tokenize import tokenize

__all__ = ["MAX_FILE_BYTES", "build_index", "index_ref"]

#: Files larger than this are left out with a note (generated code, data, bundles).
MAX_FILE_BYTES = 1_000_000
_BINARY_PROBE = 8000
T = TypeVar("T")


def build_index(
    repo: Path,
    ref: str | None = None,
    store_dir: Path | None = None,
    *,
    dense: bool = True,
    progress: Progress | None = None,
    embedder: str = "auto",
) -> IndexStats:
    """Index ``ref`` of the repository at ``repo`` (``None``: the working tree) in ``store_dir``.

    Raises ``RepositoryError`` for a missing repository or ref and ``UsageError`` for an index
    directory that cannot be written; nothing is written before those checks pass.
    """
    root = repo_root(Path(repo))
    name, commit = resolve_ref(root, ref)
    with Store(store_dir) as store:
        return index_ref(
            store, root, name, commit, dense=dense, progress=progress, embedder=embedder
        )


def index_ref(
    store: Store,
    root: Path,
    ref: str,
    commit: str | None,
    *,
    dense: bool = True,
    progress: Progress | None = None,
    embedder: str = "auto",
) -> IndexStats:
    """Index an already resolved ref into an open store."""
    report = progress or (lambda phase, done, total: None)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    cache = _stat_cache(store, root) if ref == WORKTREE else {}
    files, updates = list_files(root, ref, commit, cache)
    files, unnamed = _nameable(files)
    updates = {p: v for p, v in updates.items() if _is_utf8(p)}
    if updates:
        with store.write() as db:
            db.executemany(
                "INSERT OR REPLACE INTO stat_cache(repo, path, size, mtime_ns, blob) "
                "VALUES (?, ?, ?, ?, ?)",
                [(str(root), p, *v) for p, v in updates.items()],
            )
    keys = {f.path: file_key(f) for f in files}
    known = _existing(store, "SELECT key FROM files WHERE key IN ({})", sorted(set(keys.values())))
    todo: dict[str, SourceFile] = {}
    for f in files:
        if keys[f.path] not in known:
            todo.setdefault(keys[f.path], f)
    timings["list"] = time.perf_counter() - started
    report("list", len(files), len(files))

    started = time.perf_counter()
    notes = [f"{name}: skipped: the file name is not valid UTF-8" for name in unnamed]
    chunks_new = 0
    done = 0
    report("chunk", 0, len(todo))
    for batch in _batches(list(todo.items()), 200):
        chunks_new += _chunk_batch(store, root, batch, notes)
        done += len(batch)
        report("chunk", done, len(todo))
    timings["chunk"] = time.perf_counter() - started

    started = time.perf_counter()
    manifest = _write_manifest(store, root, ref, commit, keys)
    timings["manifest"] = time.perf_counter() - started

    started = time.perf_counter()
    report("lexical", 0, 1)
    occurrences, unique = _lexical_phase(store, manifest)
    report("lexical", 1, 1)
    timings["lexical"] = time.perf_counter() - started

    stats: dict[str, object] = {}
    if dense:
        from patchloop.index.dense import embed_manifest

        started = time.perf_counter()
        stats = embed_manifest(store, manifest, backend=embedder, progress=report)
        timings["dense"] = time.perf_counter() - started
    else:
        from patchloop.index.dense import pending_count

        stats = {"pending": pending_count(store, manifest)}
    skipped = store.db.execute(
        "SELECT count(*) FROM manifest_files mf JOIN files f ON f.key = mf.file_key "
        "WHERE mf.manifest = ? AND f.note LIKE 'skipped%'",
        (manifest,),
    ).fetchone()[0]
    return IndexStats(
        repo=str(root),
        ref=ref,
        commit=commit,
        manifest=manifest,
        files=len(files),
        files_chunked=len(todo),
        files_reused=len(files) - sum(1 for f in files if keys[f.path] in todo),
        chunks=occurrences,
        chunks_new=chunks_new,
        chunks_reused=max(unique - chunks_new, 0),
        embedded=int(stats.get("embedded", 0)),  # type: ignore[call-overload]
        embeddings_reused=int(stats.get("reused", 0)),  # type: ignore[call-overload]
        dense_pending=int(stats.get("pending", 0)),  # type: ignore[call-overload]
        skipped=skipped + len(unnamed),
        notes=notes,
        timings={k: round(v, 4) for k, v in timings.items()},
        embedder=str(stats.get("backend", "")),
    )


def _lexical_phase(store: Store, manifest: str) -> tuple[int, int]:
    """Build and save the manifest's chunk and whole-file BM25 indexes unless saved; returns
    its chunk occurrences and distinct chunks."""
    if all(Lexical.directory(store, manifest, unit).is_dir() for unit in ("chunk", "file")):
        # a manifest is content-addressed: its saved indexes are its indexes
        occurrences, unique = store.db.execute(
            "SELECT count(*), count(DISTINCT fc.chunk_id) FROM manifest_files mf "
            "JOIN file_chunks fc ON fc.file_key = mf.file_key WHERE mf.manifest = ?",
            (manifest,),
        ).fetchone()
        return int(occurrences), int(unique)
    rows = load_rows(store, manifest)
    Lexical.open(store, rows)
    Lexical.open(store, rows, unit="file")
    return len(rows), len(set(rows.chunk_ids.tolist()))


def file_key(f: SourceFile) -> str:
    """Key of a file version's chunk list: blob id, grammar and chunker settings."""
    spec = language_for(f.path)
    return f"{f.blob}:{spec.name if spec else 'text'}:{CHUNKER_VERSION}"


def _is_utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _nameable(files: list[SourceFile]) -> tuple[list[SourceFile], list[str]]:
    """Files whose path is valid UTF-8, and the others' paths with the odd bytes escaped.

    SQLite and JSON hold text only; a path git decoded with surrogate escapes (Latin-1 names,
    say) cannot be stored or printed, so such files stay out of the index with a note.
    """
    kept: list[SourceFile] = []
    unnamed: list[str] = []
    for f in files:
        if _is_utf8(f.path):
            kept.append(f)
        else:
            raw = f.path.encode("utf-8", "surrogateescape")
            unnamed.append(raw.decode("utf-8", "backslashreplace"))
    return kept, unnamed


def _stat_cache(store: Store, root: Path) -> dict[str, tuple[int, int, str]]:
    rows = store.db.execute(
        "SELECT path, size, mtime_ns, blob FROM stat_cache WHERE repo = ?", (str(root),)
    )
    return {path: (size, mtime, blob) for path, size, mtime, blob in rows}


def _existing(store: Store, sql: str, values: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for part in _batches(list(values), 900):
        marks = ",".join("?" * len(part))
        found.update(row[0] for row in store.db.execute(sql.format(marks), part))
    return found


def _batches(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _decode(path: str, data: bytes) -> tuple[str | None, str]:
    if b"\0" in data[:_BINARY_PROBE]:
        return None, "skipped: binary"
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError:
        # Latin-1 maps every byte, so legacy-encoded sources stay searchable
        return data.decode("latin-1"), "not UTF-8; decoded as Latin-1"


def _chunk_batch(
    store: Store, root: Path, batch: list[tuple[str, SourceFile]], notes: list[str]
) -> int:
    """Chunk and store one batch of file versions in one transaction; new chunk texts count."""
    results: list[tuple[str, str, str, FileChunks]] = []
    readable = []
    for key, f in batch:
        spec = language_for(f.path)
        lang = spec.name if spec else "text"
        if f.size > MAX_FILE_BYTES:
            note = f"skipped: {f.size / 1e6:.1f} MB is over the {MAX_FILE_BYTES / 1e6:.0f} MB limit"
            results.append((key, lang, note, FileChunks([])))
        else:
            readable.append((key, f))
    key_of = {f.path: key for key, f in readable}
    for f, data in read_blobs(root, [f for _, f in readable]):
        key = key_of[f.path]
        spec = language_for(f.path)
        lang = spec.name if spec else "text"
        if len(data) > MAX_FILE_BYTES:
            note = (
                f"skipped: {len(data) / 1e6:.1f} MB is over the {MAX_FILE_BYTES / 1e6:.0f} MB limit"
            )
            results.append((key, lang, note, FileChunks([])))
            continue
        text, note = _decode(f.path, data)
        if text is None:
            results.append((key, lang, note, FileChunks([])))
            continue
        chunked = chunk_file(f.path, text)
        note = "; ".join(n for n in (note, chunked.note) if n)
        results.append((key, lang, note, chunked))
    for key, _lang, note, _ in results:
        if note:
            path = next(f.path for k, f in batch if k == key)
            notes.append(f"{path}: {note}")

    hashes = {c.text: _chunk_hash(c.text) for _, _, _, fc in results for c in fc.chunks}
    stored = _existing(
        store, "SELECT hash FROM chunks WHERE hash IN ({})", sorted(set(hashes.values()))
    )
    fresh = {h: (t, tokenize(t)) for t, h in hashes.items() if h not in stored}
    with store.write() as db:
        token_ids = _token_ids(db, {tok for _, toks in fresh.values() for tok in toks})
        fresh_rows = [
            (h, t, array("i", [token_ids[tok] for tok in toks]).tobytes())
            for h, (t, toks) in fresh.items()
        ]
        before = db.total_changes
        db.executemany(
            "INSERT OR IGNORE INTO chunks(hash, text, token_ids) VALUES (?, ?, ?)", fresh_rows
        )
        inserted = db.total_changes - before
        ids: dict[str, int] = {}
        wanted = sorted(set(hashes.values()))
        for part in _batches(wanted, 900):
            marks = ",".join("?" * len(part))
            ids.update(db.execute(f"SELECT hash, id FROM chunks WHERE hash IN ({marks})", part))
        for key, lang, note, fc in results:
            db.execute("DELETE FROM file_chunks WHERE file_key = ?", (key,))
            db.executemany(
                "INSERT INTO file_chunks"
                "(file_key, seq, chunk_id, symbol, kind, start_line, end_line) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (key, seq, ids[hashes[c.text]], c.symbol, c.kind, c.start_line, c.end_line)
                    for seq, c in enumerate(fc.chunks)
                ],
            )
            db.execute(
                "INSERT OR REPLACE INTO files(key, lang, note, defs, refs) VALUES (?, ?, ?, ?, ?)",
                (key, lang, note, json.dumps(fc.defs), json.dumps(fc.refs)),
            )
    return inserted


def _token_ids(db: sqlite3.Connection, tokens: set[str]) -> dict[str, int]:
    """Ids of ``tokens`` in the shared vocabulary, adding the new ones."""
    ordered = sorted(tokens)
    db.executemany("INSERT OR IGNORE INTO vocab(token) VALUES (?)", [(t,) for t in ordered])
    ids: dict[str, int] = {}
    for part in _batches(ordered, 900):
        marks = ",".join("?" * len(part))
        ids.update(db.execute(f"SELECT token, id FROM vocab WHERE token IN ({marks})", part))
    return ids


def _chunk_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def _write_manifest(
    store: Store, root: Path, ref: str, commit: str | None, keys: dict[str, str]
) -> str:
    digest = hashlib.sha256()
    for path in sorted(keys):
        digest.update(f"{path}\0{keys[path]}\n".encode())
    manifest = digest.hexdigest()[:32]
    with store.write() as db:
        exists = db.execute("SELECT 1 FROM manifests WHERE key = ?", (manifest,)).fetchone()
        if not exists:
            db.executemany(
                "INSERT OR IGNORE INTO manifest_files(manifest, path, file_key) VALUES (?, ?, ?)",
                [(manifest, p, k) for p, k in keys.items()],
            )
            count = db.execute(
                "SELECT count(*) FROM manifest_files mf JOIN file_chunks fc "
                "ON fc.file_key = mf.file_key WHERE mf.manifest = ?",
                (manifest,),
            ).fetchone()[0]
            db.execute(
                "INSERT INTO manifests(key, files, chunks, created) VALUES (?, ?, ?, ?)",
                (manifest, len(keys), count, time.time()),
            )
        db.execute(
            "INSERT INTO refs(repo, ref, commit_id, manifest, updated) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(repo, ref) DO UPDATE SET commit_id = excluded.commit_id, "
            "manifest = excluded.manifest, updated = excluded.updated",
            (str(root), ref, commit, manifest, time.time()),
        )
    return manifest
