"""File names that are not UTF-8, and stats of a run split into lexical and dense passes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from patchloop.errors import UsageError
from patchloop.index import build_index, gc, lexical_retriever
from patchloop.index.stats import IndexStats, merge_passes
from tests.conftest import make_repo
from tests.index.conftest import SHOP, commit_all

LATIN1_NAME = b"caf\xe9_menu.py"


def latin1_repo(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "latin", {"shop.py": SHOP})
    name = os.fsdecode(LATIN1_NAME)  # surrogate-escaped, like git's bytes decoded by us
    (repo / name).write_text("def espresso_price():\n    return 2\n")
    commit_all(repo)
    return repo


@pytest.mark.parametrize("ref", ["main", None])
def test_a_latin1_file_name_is_skipped_with_a_note(
    tmp_path: Path, store_dir: Path, ref: str | None
) -> None:
    repo = latin1_repo(tmp_path)
    first = build_index(repo, ref, store_dir, dense=False)
    assert first.files == 1
    assert first.skipped == 1
    assert first.notes == ["caf\\xe9_menu.py: skipped: the file name is not valid UTF-8"]
    first.model_dump_json()  # printable: no surrogates left in the stats
    again = build_index(repo, ref, store_dir, dense=False)  # the store is not left broken
    assert again.manifest == first.manifest
    assert again.files_chunked == 0
    retriever = lexical_retriever(repo, ref=ref, store_dir=store_dir)
    hits = retriever.search("espresso price cart", k=5)
    retriever.close()
    assert hits
    assert {h.path for h in hits} == {"shop.py"}


def test_gc_of_a_missing_index_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "index"
    with pytest.raises(UsageError, match="no index in"):
        gc(missing)
    assert not missing.exists()


def _stats(**changes: object) -> IndexStats:
    base = IndexStats(
        repo="/r",
        ref="WORKTREE",
        commit=None,
        manifest="m",
        files=6,
        files_chunked=6,
        files_reused=0,
        chunks=8,
        chunks_new=8,
        chunks_reused=0,
        dense_pending=8,
        skipped=2,
        notes=["blob.bin: skipped: binary"],
        timings={"list": 0.1, "chunk": 0.2, "manifest": 0.01, "lexical": 0.3},
    )
    return base.model_copy(update=changes)


def test_merge_passes_keeps_the_first_pass_counts_and_the_second_pass_embeddings() -> None:
    lexical = _stats()
    dense = _stats(
        files_chunked=0,
        files_reused=6,
        chunks_new=0,
        chunks_reused=8,
        notes=[],
        embedded=8,
        dense_pending=0,
        embedder="onnx-fp32",
        timings={"list": 0.01, "chunk": 0.0, "manifest": 0.0, "lexical": 0.02, "dense": 4.0},
    )
    merged = merge_passes(lexical, dense)
    assert (merged.files_chunked, merged.files_reused) == (6, 0)
    assert (merged.chunks_new, merged.chunks_reused) == (8, 0)
    assert merged.notes == ["blob.bin: skipped: binary"]
    assert merged.skipped == 2
    assert (merged.embedded, merged.dense_pending, merged.embedder) == (8, 0, "onnx-fp32")
    assert merged.timings == {
        "list": 0.1,
        "chunk": 0.2,
        "manifest": 0.01,
        "lexical": 0.3,
        "dense": 4.0,
    }
