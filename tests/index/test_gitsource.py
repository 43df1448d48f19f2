"""Reading blobs runs one ``git cat-file --batch`` under a time limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.errors import RepositoryError
from patchloop.index.gitsource import SourceFile, list_files, read_blobs, resolve_ref
from tests.conftest import make_repo
from tests.hung_git import gone, install_hung_git


def _files(repo: Path) -> list[SourceFile]:
    ref, commit = resolve_ref(repo, "HEAD")
    return list_files(repo, ref, commit, {})[0]


def test_blobs_are_read_from_the_object_database(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"a.py": "A = 1\n", "b.txt": "bee\n"})
    files = _files(repo)
    assert {f.path: data for f, data in read_blobs(repo, files)} == {
        "a.py": b"A = 1\n",
        "b.txt": b"bee\n",
    }


def test_a_hung_cat_file_is_killed_with_its_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "r", {"a.py": "A = 1\n"})
    files = _files(repo)
    pid_file, marker = install_hung_git(tmp_path, monkeypatch)
    with pytest.raises(RepositoryError, match=r"cannot read objects .*did not finish within 0\.5s"):
        list(read_blobs(repo, files, timeout=0.5))
    assert gone(pid_file)
    assert not marker.exists()
