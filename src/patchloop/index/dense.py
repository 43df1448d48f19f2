"""Dense phase of indexing: embed the manifest's chunks that have no vector yet, in batches."""

from __future__ import annotations

from patchloop.index.embed import export_onnx, load_embedder, model_key, onnx_path
from patchloop.index.stats import Progress
from patchloop.index.store import Store
from patchloop.index.vectors import VectorIndex

__all__ = ["BATCH_CHUNKS", "embed_manifest", "pending_count"]

#: Chunks embedded and committed together; an interrupted run loses at most one batch.
BATCH_CHUNKS = 256
#: Up to this many chunks, ``auto`` embeds with ONNX Runtime once its graph exists: starting it
#: takes a fraction of a second, while importing torch and loading the model take seconds.
SMALL_JOB = 256

_MISSING = (
    "SELECT DISTINCT fc.chunk_id FROM manifest_files mf "
    "JOIN file_chunks fc ON fc.file_key = mf.file_key "
    "JOIN chunks c ON c.id = fc.chunk_id "
    "WHERE mf.manifest = ? AND NOT EXISTS "
    "(SELECT 1 FROM embeddings e WHERE e.model = ? AND e.chunk_id = fc.chunk_id) "
    "ORDER BY length(c.text), fc.chunk_id"
)


def pending_count(store: Store, manifest: str) -> int:
    """Chunks of ``manifest`` without an embedding under the current model key."""
    row = store.db.execute(
        "SELECT count(DISTINCT fc.chunk_id) FROM manifest_files mf "
        "JOIN file_chunks fc ON fc.file_key = mf.file_key "
        "WHERE mf.manifest = ? AND NOT EXISTS "
        "(SELECT 1 FROM embeddings e WHERE e.model = ? AND e.chunk_id = fc.chunk_id)",
        (manifest, model_key()),
    ).fetchone()
    return int(row[0])


def embed_manifest(
    store: Store, manifest: str, *, backend: str = "auto", progress: Progress | None = None
) -> dict[str, object]:
    """Embed what is missing, update the FAISS cache; returns counts and the backend used."""
    report = progress or (lambda phase, done, total: None)
    key = model_key()
    missing = [row[0] for row in store.db.execute(_MISSING, (manifest, key))]
    unique = store.db.execute(
        "SELECT count(DISTINCT fc.chunk_id) FROM manifest_files mf "
        "JOIN file_chunks fc ON fc.file_key = mf.file_key WHERE mf.manifest = ?",
        (manifest,),
    ).fetchone()[0]
    models_dir = store.dir / "models"
    used = ""
    report("dense", 0, len(missing))
    if missing:
        if backend == "auto" and len(missing) <= SMALL_JOB and onnx_path(models_dir).exists():
            backend = "onnx"
        embedder = load_embedder(backend, models_dir=models_dir)
        used = embedder.backend
        done = 0
        # missing is sorted by text length, so each batch pads to similar lengths
        for start in range(0, len(missing), BATCH_CHUNKS):
            part = missing[start : start + BATCH_CHUNKS]
            marks = ",".join("?" * len(part))
            texts = dict(
                store.db.execute(f"SELECT id, text FROM chunks WHERE id IN ({marks})", part)
            )
            vectors = embedder.embed([texts[i] for i in part])
            with store.write() as db:
                db.executemany(
                    "INSERT OR IGNORE INTO embeddings(model, chunk_id, vector) VALUES (?, ?, ?)",
                    [(key, cid, vectors[n].tobytes()) for n, cid in enumerate(part)],
                )
            done += len(part)
            report("dense", done, len(missing))
    # queries embed with ONNX Runtime, so searching never has to import torch
    export_onnx(models_dir)
    if missing or not VectorIndex.file(store, key).exists():
        VectorIndex.load(store, key).save(store, key)
    return {
        "embedded": len(missing),
        "reused": unique - len(missing),
        "pending": 0,
        "backend": used,
    }
