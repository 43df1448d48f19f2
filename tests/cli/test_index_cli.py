"""``patchloop index``, ``search`` and ``localize`` through a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def cli(*args: str, index_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATCHLOOP_INDEX__DIR": str(index_dir)}
    return subprocess.run(
        [sys.executable, "-m", "patchloop", *args],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip


def test_index_search_localize_gc(calc_repo: Path, tmp_path: Path) -> None:
    store = tmp_path / "index"
    first = cli("index", "--repo", str(calc_repo), "--lexical", "--json", index_dir=store)
    assert first.returncode == 0, first.stderr
    stats = json.loads(first.stdout)
    assert stats["files_chunked"] == stats["files"] > 0
    again = cli("index", "--repo", str(calc_repo), "--lexical", "--json", index_dir=store)
    assert json.loads(again.stdout)["files_chunked"] == 0

    found = cli("search", "clamp value range", "--repo", str(calc_repo), "--json", index_dir=store)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert hits[0]["symbol"] == "clamp"
    assert "bm25" in hits[0]["ranks"]

    located = cli(
        "localize", "clamp returns the low bound for values above the range",
        "--repo", str(calc_repo), "--test", "test_calc.py::test_clamp_high", "--json",
        index_dir=store,
    )  # fmt: skip
    assert located.returncode == 0, located.stderr
    report = json.loads(located.stdout)
    top = report["functions"][0]
    assert (top["path"], top["symbol"]) == ("calc.py", "clamp")
    assert "sbfl" in top["signals"]

    collected = cli("index", "gc", "--json", "--index-dir", str(store), index_dir=store)
    assert collected.returncode == 0, collected.stderr


def test_bad_ref_is_a_usage_error(calc_repo: Path, tmp_path: Path) -> None:
    proc = cli("index", "--repo", str(calc_repo), "--ref", "nope", index_dir=tmp_path / "i")
    assert proc.returncode == 2
    assert "patchloop: error:" in proc.stderr
    assert "Traceback" not in proc.stderr
