"""Incremental indexing: reuse across runs, refs and branches; resume; bad input; gc."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from patchloop.errors import RepositoryError, UsageError
from patchloop.index import build_index, gc
from patchloop.index import builder as builder_module
from patchloop.index.store import default_index_dir
from tests.conftest import git, make_repo
from tests.index.conftest import SHOP, commit_all


def manifest_chunks(store_dir: Path, manifest: str) -> list[tuple[str, str, int, int]]:
    db = sqlite3.connect(store_dir / "index.sqlite")
    rows = db.execute(
        "SELECT mf.path, c.hash, fc.start_line, fc.end_line FROM manifest_files mf "
        "JOIN file_chunks fc ON fc.file_key = mf.file_key JOIN chunks c ON c.id = fc.chunk_id "
        "WHERE mf.manifest = ? ORDER BY mf.path, fc.seq",
        (manifest,),
    ).fetchall()
    db.close()
    return rows


def test_second_index_of_unchanged_ref_computes_nothing(shop_repo: Path, store_dir: Path) -> None:
    first = build_index(shop_repo, "main", store_dir, dense=False)
    assert first.files == 3
    assert first.files_chunked == 3
    assert first.chunks_new > 0
    assert first.chunks == len(manifest_chunks(store_dir, first.manifest))
    assert first.ref == "refs/heads/main"
    assert first.dense_pending == first.chunks_new
    second = build_index(shop_repo, "main", store_dir, dense=False)
    assert second.files_chunked == 0
    assert second.chunks_new == 0
    assert second.files_reused == 3
    assert second.manifest == first.manifest


def test_editing_one_function_adds_only_its_chunk(shop_repo: Path, store_dir: Path) -> None:
    before = build_index(shop_repo, "main", store_dir, dense=False)
    (shop_repo / "shop.py").write_text(SHOP.replace("return total * (1 -", "return total * (1.0 -"))
    commit_all(shop_repo)
    after = build_index(shop_repo, "main", store_dir, dense=False)
    assert after.files_chunked == 1
    assert after.files_reused == 2
    assert after.chunks_new == 1
    old = set(manifest_chunks(store_dir, before.manifest))
    new = set(manifest_chunks(store_dir, after.manifest))
    changed = new - old
    assert [(path, start) for path, _, start, _ in changed] == [("shop.py", 19)]


def test_branch_switch_reuses_shared_chunks(shop_repo: Path, store_dir: Path) -> None:
    main = build_index(shop_repo, "main", store_dir, dense=False)
    git(shop_repo, "checkout", "-q", "-b", "feature")
    (shop_repo / "extra.py").write_text("def extra_feature():\n    return 42\n")
    commit_all(shop_repo)
    feature = build_index(shop_repo, "feature", store_dir, dense=False)
    assert feature.files_chunked == 1
    assert feature.files_reused == 3
    assert feature.chunks_new == 1
    assert feature.chunks_reused == main.chunks_new
    # a second branch at the same tree shares the manifest outright
    git(shop_repo, "branch", "copy", "feature")
    copy = build_index(shop_repo, "copy", store_dir, dense=False)
    assert copy.manifest == feature.manifest
    assert copy.files_chunked == 0


def test_working_tree_uses_stat_then_hash(shop_repo: Path, store_dir: Path) -> None:
    clean = build_index(shop_repo, None, store_dir, dense=False)
    assert clean.ref == "WORKTREE"
    assert clean.manifest == build_index(shop_repo, "main", store_dir, dense=False).manifest
    (shop_repo / "draft.py").write_text("def draft_idea():\n    pass\n")
    dirty = build_index(shop_repo, None, store_dir, dense=False)
    assert dirty.files == 4
    assert dirty.files_chunked == 1
    again = build_index(shop_repo, None, store_dir, dense=False)
    assert again.files_chunked == 0
    assert again.manifest == dirty.manifest
    # same size and content rewritten: mtime changes, the content hash keeps the file version
    os.utime(shop_repo / "draft.py", ns=(1, 1))
    assert build_index(shop_repo, None, store_dir, dense=False).files_chunked == 0


def test_crash_mid_index_then_resume_matches_a_clean_run(tmp_path: Path) -> None:
    files = {f"pkg/mod_{i}.py": f"def func_{i}(x):\n    return x + {i}\n" for i in range(450)}
    repo = make_repo(tmp_path / "many", files)
    store_dir = tmp_path / "index"

    class Crash(Exception):
        pass

    def crash_after_first_batch(phase: str, done: int, total: int) -> None:
        if phase == "chunk" and done >= 200:
            raise Crash

    with pytest.raises(Crash):
        build_index(repo, "main", store_dir, dense=False, progress=crash_after_first_batch)
    resumed = build_index(repo, "main", store_dir, dense=False)
    assert resumed.files_chunked == 250  # the committed batch of 200 was kept
    clean = build_index(repo, "main", tmp_path / "clean", dense=False)
    assert resumed.manifest == clean.manifest
    assert manifest_chunks(store_dir, resumed.manifest) == manifest_chunks(
        tmp_path / "clean", clean.manifest
    )


def test_bad_files_are_noted_not_fatal(
    tmp_path: Path, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "bad", {"ok.py": "def fine():\n    return 1\n"})
    (repo / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0IHDR" + bytes(range(256)))
    (repo / "big.py").write_text("x = 1\n" * 400)
    (repo / "legacy.py").write_bytes("def caf\xe9():\n    return 'd\xe9j\xe0'\n".encode("latin-1"))
    commit_all(repo)
    monkeypatch.setattr(builder_module, "MAX_FILE_BYTES", 1000)
    stats = build_index(repo, "main", store_dir, dense=False)
    notes = "\n".join(stats.notes)
    assert "logo.png: skipped: binary" in notes
    assert "big.py: skipped:" in notes
    assert "limit" in notes
    assert "legacy.py: not UTF-8; decoded as Latin-1" in notes
    assert stats.skipped == 2
    paths = {p for p, *_ in manifest_chunks(store_dir, stats.manifest)}
    assert paths == {"ok.py", "legacy.py"}


def test_missing_ref_and_missing_repo_are_repository_errors(
    shop_repo: Path, store_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(RepositoryError, match="ref 'nope' does not exist"):
        build_index(shop_repo, "nope", store_dir)
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(RepositoryError, match="not inside a git work tree"):
        build_index(plain, None, store_dir)
    assert not store_dir.exists()  # nothing was written for a bad request


def test_unwritable_index_dir_is_a_usage_error(shop_repo: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(UsageError, match="is not writable"):
        build_index(shop_repo, "main", blocker / "index", dense=False)


def test_gc_drops_what_no_manifest_references(shop_repo: Path, store_dir: Path) -> None:
    first = build_index(shop_repo, "main", store_dir, dense=False)
    (shop_repo / "shop.py").write_text("def replaced():\n    return 0\n")
    commit_all(shop_repo)
    second = build_index(shop_repo, "main", store_dir, dense=False)
    assert (store_dir / "lexical" / first.manifest).is_dir()
    result = gc(store_dir)
    assert result.manifests == 1
    assert result.files == 1
    # the old shop.py: module code, Cart, its three methods, apply_discount
    assert result.chunks == 6
    assert not (store_dir / "lexical" / first.manifest).exists()
    assert (store_dir / "lexical" / second.manifest).is_dir()
    assert gc(store_dir).chunks == 0
    db = sqlite3.connect(store_dir / "index.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_default_index_dir_honours_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PATCHLOOP_INDEX__DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_index_dir() == tmp_path / "cache" / "patchloop" / "index"
    monkeypatch.setenv("PATCHLOOP_INDEX__DIR", str(tmp_path / "explicit"))
    assert default_index_dir() == tmp_path / "explicit"
