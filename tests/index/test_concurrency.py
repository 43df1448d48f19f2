"""Real processes: two indexers at once, and an indexer killed mid-run."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from patchloop.index import HybridRetriever, build_index
from tests.conftest import make_repo

INDEXER = """
import sys, time
from pathlib import Path
from patchloop.index import build_index

slow = len(sys.argv) > 3
def progress(phase, done, total):
    print(phase, done, total, flush=True)
    if slow and phase == "chunk" and done:
        time.sleep(30)
stats = build_index(Path(sys.argv[1]), "main", Path(sys.argv[2]), dense=False, progress=progress)
print("MANIFEST", stats.manifest, flush=True)
"""


def many_files(tmp_path: Path, count: int = 600) -> Path:
    files = {
        f"pkg/m{i}.py": f"def handler_{i}(request):\n    return request.value * {i}\n\n"
        f"class Model{i}:\n    size = {i}\n"
        for i in range(count)
    }
    return make_repo(tmp_path / "many", files)


def integrity(store_dir: Path) -> tuple[str, int, int]:
    db = sqlite3.connect(store_dir / "index.sqlite")
    ok = db.execute("PRAGMA integrity_check").fetchone()[0]
    chunks, distinct = db.execute("SELECT count(*), count(DISTINCT hash) FROM chunks").fetchone()
    db.close()
    return ok, chunks, distinct


@pytest.mark.slow
def test_two_processes_indexing_one_repo(tmp_path: Path) -> None:
    repo = many_files(tmp_path)
    store_dir = tmp_path / "index"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", INDEXER, str(repo), str(store_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
    manifests = {
        line.split()[1] for out, _ in outputs for line in out.splitlines() if "MANIFEST" in line
    }
    clean = build_index(repo, "main", tmp_path / "clean", dense=False)
    assert manifests == {clean.manifest}
    ok, chunks, distinct = integrity(store_dir)
    assert ok == "ok"
    assert chunks == distinct == integrity(tmp_path / "clean")[1]
    again = build_index(repo, "main", store_dir, dense=False)
    assert again.files_chunked == 0
    assert again.chunks_new == 0


@pytest.mark.slow
def test_killed_indexer_resumes(tmp_path: Path) -> None:
    repo = many_files(tmp_path)
    store_dir = tmp_path / "index"
    proc = subprocess.Popen(
        [sys.executable, "-c", INDEXER, str(repo), str(store_dir), "slow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        if line.startswith("chunk 200 "):
            break  # the first batch is committed; the process now sleeps
        assert time.monotonic() < deadline
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert proc.stderr is not None
    proc.stderr.close()
    resumed = build_index(repo, "main", store_dir, dense=False)
    assert resumed.files_chunked == 400
    clean = build_index(repo, "main", tmp_path / "clean", dense=False)
    assert resumed.manifest == clean.manifest
    assert integrity(store_dir)[0] == "ok"


DENSE_INDEXER = """
import os, signal, sys
from pathlib import Path
from patchloop.index import build_index
from patchloop.index import dense

dense.BATCH_CHUNKS = 4  # many small commits, so the processes interleave and a kill lands mid-way
die = len(sys.argv) > 3
def progress(phase, done, total):
    print(phase, done, total, flush=True)
    if die and phase == "dense" and done:
        os.kill(os.getpid(), signal.SIGKILL)  # right after the first batch was committed
stats = build_index(Path(sys.argv[1]), "main", Path(sys.argv[2]), dense=True, progress=progress)
print("MANIFEST", stats.manifest, stats.embedded, flush=True)
"""


def few_functions(tmp_path: Path, count: int = 12) -> Path:
    files = {
        f"pkg/m{i}.py": f"def handler_{i}(request):\n    return request.value * {i}\n"
        for i in range(count)
    }
    return make_repo(tmp_path / "few", files)


def vectors_by_hash(store_dir: Path) -> dict[str, np.ndarray]:
    db = sqlite3.connect(store_dir / "index.sqlite")
    rows = db.execute(
        "SELECT c.hash, e.vector FROM embeddings e JOIN chunks c ON c.id = e.chunk_id"
    ).fetchall()
    db.close()
    return {h: np.frombuffer(v, dtype=np.float32) for h, v in rows}


def faiss_matches_sqlite(store_dir: Path) -> None:
    """The FAISS file on disk holds exactly the stored embeddings, each once."""
    import faiss

    from patchloop.index.embed import model_key
    from patchloop.index.store import Store
    from patchloop.index.vectors import VectorIndex, _read

    with Store(store_dir) as store:
        on_disk = _read(VectorIndex.file(store, model_key()))
        ids, top = zip(*store.db.execute("SELECT chunk_id, seq FROM embeddings"), strict=True)
    assert on_disk is not None
    stored = faiss.vector_to_array(on_disk.index.id_map).tolist()
    assert sorted(stored) == sorted(ids)
    assert on_disk.high_water == max(top)


@pytest.mark.slow
def test_killed_during_embedding_then_resumed_matches_a_clean_run(tmp_path: Path) -> None:
    repo = few_functions(tmp_path)
    store_dir = tmp_path / "index"
    killed = subprocess.run(
        [sys.executable, "-c", DENSE_INDEXER, str(repo), str(store_dir), "die"],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "dense 4 " in killed.stdout
    partial = vectors_by_hash(store_dir)
    assert len(partial) == 4

    resumed = build_index(repo, "main", store_dir)
    assert resumed.embedded == 8
    assert resumed.embeddings_reused == 4
    assert resumed.dense_pending == 0
    clean = build_index(repo, "main", tmp_path / "clean")
    assert resumed.manifest == clean.manifest
    ours, theirs = vectors_by_hash(store_dir), vectors_by_hash(tmp_path / "clean")
    assert set(ours) == set(theirs)
    for chunk_hash, vector in ours.items():
        # batches differ between the runs; the function they compute does not
        assert float(vector @ theirs[chunk_hash]) > 0.99
    for chunk_hash, vector in partial.items():
        assert np.array_equal(ours[chunk_hash], vector)  # kept, not recomputed
    faiss_matches_sqlite(store_dir)
    assert integrity(store_dir)[0] == "ok"


@pytest.mark.slow
def test_two_processes_embedding_one_repo(tmp_path: Path) -> None:
    repo = few_functions(tmp_path)
    store_dir = tmp_path / "index"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", DENSE_INDEXER, str(repo), str(store_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
    assert integrity(store_dir)[0] == "ok"
    faiss_matches_sqlite(store_dir)
    db = sqlite3.connect(store_dir / "index.sqlite")
    chunks, embedded, distinct = db.execute(
        "SELECT (SELECT count(*) FROM chunks), count(*), count(DISTINCT chunk_id) FROM embeddings"
    ).fetchone()
    db.close()
    assert chunks == embedded == distinct == 12
    again = build_index(repo, "main", store_dir)
    assert (again.embedded, again.embeddings_reused, again.dense_pending) == (0, 12, 0)
    retriever = HybridRetriever(repo, ref="main", store_dir=store_dir)
    hits = retriever.search("handler_7 request value", k=3)
    retriever.close()
    assert "dense" in retriever.last_signals
    assert hits[0].symbol == "handler_7"
