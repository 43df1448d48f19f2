"""``patchloop index``, ``search`` and ``localize`` through a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git, make_repo

BAD_FILES_NOTES = (
    "blob.bin: skipped: binary",
    "huge.py: skipped: 1.2 MB is over the 1 MB limit",
    "broken.py: parse errors; broken parts chunked in line windows",
    "legacy.py: not UTF-8; decoded as Latin-1",
)


def bad_files_repo(tmp_path: Path) -> Path:
    """A small repository with one file of each kind the indexer handles specially."""
    repo = make_repo(tmp_path / "bad", {"ok.py": "def fine():\n    return 1\n"})
    (repo / "blob.bin").write_bytes(b"\x89PNG\r\n\x1a\n\0\0" + bytes(range(256)))
    (repo / "huge.py").write_text("x = 1\n" * 200_000)
    (repo / "broken.py").write_text("def broken(:\n    return (\n\ndef fine_too():\n    pass\n")
    (repo / "legacy.py").write_bytes("def caf\xe9():\n    return 1\n".encode("latin-1"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "bad files")
    return repo


def cli(
    *args: str, index_dir: Path | None, cwd: Path | None = None, **env_extra: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PATCHLOOP_INDEX__DIR"}
    env.update(env_extra)
    if index_dir is not None:
        env["PATCHLOOP_INDEX__DIR"] = str(index_dir)
    return subprocess.run(
        [sys.executable, "-m", "patchloop", *args],
        capture_output=True, text=True, env=env, timeout=300, check=False, cwd=cwd,
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


def test_unwritable_index_dir_is_a_usage_error(calc_repo: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    for command in (["index", "--lexical"], ["search", "clamp"]):
        proc = cli(*command, "--repo", str(calc_repo), "--index-dir", str(blocker / "idx"),
                   index_dir=None)  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert "is not writable" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert blocker.read_text() == "not a directory"


def test_bad_files_are_noted_through_the_cli(tmp_path: Path) -> None:
    repo = bad_files_repo(tmp_path)
    text = cli("index", "--repo", str(repo), "--lexical", index_dir=tmp_path / "a")
    assert text.returncode == 0, text.stderr
    assert "files chunked 5, reused 0" in text.stdout
    assert "skipped 2 files" in text.stdout
    for note in BAD_FILES_NOTES:
        assert f"note: {note}" in text.stdout
    as_json = cli("index", "--repo", str(repo), "--lexical", "--json", index_dir=tmp_path / "b")
    stats = json.loads(as_json.stdout)
    assert stats["skipped"] == 2
    assert sorted(stats["notes"]) == sorted(BAD_FILES_NOTES)


@pytest.mark.slow
def test_a_cold_dense_run_reports_both_passes(tmp_path: Path) -> None:
    repo = bad_files_repo(tmp_path)
    proc = cli("index", "--repo", str(repo), "--json", index_dir=tmp_path / "json")
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert stats["files"] == stats["files_chunked"] == 5
    assert stats["files_reused"] == 0
    assert stats["chunks_new"] > 0
    assert stats["chunks_reused"] == 0
    assert stats["embedded"] == stats["chunks_new"]
    assert stats["dense_pending"] == 0
    assert stats["embedder"]
    assert sorted(stats["notes"]) == sorted(BAD_FILES_NOTES)
    assert stats["skipped"] == 2
    assert {"list", "chunk", "manifest", "lexical", "dense"} <= set(stats["timings"])
    assert stats["timings"]["dense"] > 0

    text = cli("index", "--repo", str(repo), index_dir=tmp_path / "text")
    assert text.returncode == 0, text.stderr
    first = text.stdout.splitlines()[0]
    assert "files chunked 5, reused 0" in first
    assert f"chunks new {stats['chunks_new']}, reused 0" in first
    assert f"embedded {stats['chunks_new']}, reused 0" in first
    assert "skipped 2 files" in text.stdout
    assert "dense " in text.stdout  # the dense phase's time
    for note in BAD_FILES_NOTES:
        assert f"note: {note}" in text.stdout


def test_gc_uses_the_configured_index_dir(calc_repo: Path, tmp_path: Path) -> None:
    configured = tmp_path / "configured"
    # Where state goes is the user's choice: their own config file, not the repository's.
    xdg = tmp_path / "xdg"
    (xdg / "patchloop").mkdir(parents=True)
    (xdg / "patchloop" / "config.toml").write_text(f'[index]\ndir = "{configured}"\n')
    cache = tmp_path / "cache"
    indexed = cli("index", "--repo", str(calc_repo), "--lexical", index_dir=None,
                  XDG_CACHE_HOME=str(cache), XDG_CONFIG_HOME=str(xdg))  # fmt: skip
    assert indexed.returncode == 0, indexed.stderr
    assert (configured / "index.sqlite").is_file()
    collected = cli("index", "gc", "--json", index_dir=None, cwd=calc_repo,
                    XDG_CACHE_HOME=str(cache), XDG_CONFIG_HOME=str(xdg))  # fmt: skip
    assert collected.returncode == 0, collected.stderr
    assert json.loads(collected.stdout)["chunks"] == 0
    assert not cache.exists()  # the default store was neither read nor created


def test_gc_without_an_index_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    proc = cli("index", "gc", "--index-dir", str(missing), index_dir=None, cwd=tmp_path,
               XDG_CACHE_HOME=str(tmp_path / "cache"))  # fmt: skip
    assert proc.returncode == 2
    assert f"no index in {missing}" in proc.stderr
    assert not missing.exists()
    nowhere = cli("index", "gc", "--repo", str(tmp_path / "nowhere"), index_dir=None)
    assert nowhere.returncode == 2
    assert "nowhere does not exist" in nowhere.stderr


def test_localize_and_search_usage_errors(calc_repo: Path, tmp_path: Path) -> None:
    store = tmp_path / "index"
    unknown = cli("localize", "clamp is wrong", "--repo", str(calc_repo),
                  "--test", "test_calc.py::test_clamp_hihg", index_dir=store)  # fmt: skip
    assert unknown.returncode == 2
    assert "no such test: test_calc.py::test_clamp_hihg" in unknown.stderr
    assert "did you mean test_calc.py::test_clamp_high" in unknown.stderr
    missing = cli("localize", "--repo", str(calc_repo), "--test", "test_nope.py::test_x",
                  index_dir=store)  # fmt: skip
    assert missing.returncode == 2
    assert "no such test: test_nope.py::test_x" in missing.stderr
    for args in (["search", "clamp", "--k", "-1"], ["localize", "clamp", "--k", "0"]):
        proc = cli(*args, "--repo", str(calc_repo), index_dir=store)
        assert proc.returncode == 2, args
        assert "--k must be at least 1" in proc.stderr


def test_localize_reports_the_project_and_uses_index_dir(calc_repo: Path, tmp_path: Path) -> None:
    chosen = tmp_path / "chosen"
    proc = cli(
        "localize", "clamp returns the low bound for values above the range",
        "--repo", str(calc_repo), "--test", "test_calc.py::test_clamp_high",
        "--index-dir", str(chosen), "--json", index_dir=tmp_path / "env",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["root"] == str(calc_repo.resolve())
    assert (chosen / "index.sqlite").is_file()
    assert not (tmp_path / "env").exists()
    top = report["functions"][0]
    assert (top["path"], top["symbol"]) == ("calc.py", "clamp")
    bm25 = top["signals"]["bm25"]
    assert bm25["score"] > 0
    assert bm25["score"] != float(bm25["rank"])
    text = cli(
        "localize", "clamp returns the low bound", "--repo", str(calc_repo), "--no-index",
        "--test", "test_calc.py::test_clamp_high", index_dir=tmp_path / "env",
    )  # fmt: skip
    assert text.returncode == 0, text.stderr
    assert "sbfl#1 (1)" in text.stdout
