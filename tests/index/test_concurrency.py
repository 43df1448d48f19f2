"""Real processes: two indexers at once, and an indexer killed mid-run."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from patchloop.index import build_index
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
