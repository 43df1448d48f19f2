from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from patchloop.errors import RepositoryError
from patchloop.repo.snapshot import (
    current_fingerprint,
    list_files,
    locate,
    restore_snapshot,
    save_snapshot,
    take_snapshot,
)
from tests.conftest import git, make_repo, tree_state


def test_snapshot_includes_uncommitted_and_untracked_but_not_ignored(calc_repo: Path) -> None:
    (calc_repo / "calc.py").write_text("changed = 1\n")
    (calc_repo / "new.py").write_text("x = 1\n")
    (calc_repo / ".gitignore").write_text("secret.txt\n")
    (calc_repo / "secret.txt").write_text("no\n")
    snap = take_snapshot(locate(calc_repo))
    try:
        assert "new.py" in snap.files
        assert "secret.txt" not in snap.files
        assert snap.read("calc.py") == "changed = 1\n"
        assert snap.info.dirty >= 2
        assert snap.info.head is not None
    finally:
        snap.remove()
    assert not snap.template.exists()


def test_subdirectory_project_is_relative_to_itself(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "mono", {"a/pkg.py": "x = 1\n", "b/other.py": "y = 2\n"})
    where = locate(root / "a")
    assert where.subdir == "a"
    assert list_files(where) == ["pkg.py"]


def test_not_a_git_repository_and_missing_path(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match="not inside a git work tree"):
        locate(tmp_path)
    with pytest.raises(RepositoryError, match="does not exist"):
        locate(tmp_path / "missing")


def test_fingerprint_changes_with_content(calc_repo: Path) -> None:
    where = locate(calc_repo)
    before = current_fingerprint(where)
    assert current_fingerprint(where) == before
    (calc_repo / "calc.py").write_text("y = 2\n")
    assert current_fingerprint(where) != before


@pytest.mark.parametrize("commit", [True, False])
def test_saved_snapshot_restores_exactly(tmp_path: Path, commit: bool) -> None:
    repo = make_repo(tmp_path / "r", {"a.py": "a = 1\n", "sub/b.py": "b = 2\n"}, commit=commit)
    (repo / "a.py").write_text("a = 3\n")
    (repo / "c.py").write_text("c = 4\n")
    if commit:
        (repo / "sub/b.py").unlink()
    snap = take_snapshot(locate(repo))
    try:
        save_snapshot(snap, tmp_path / "stored")
        files = restore_snapshot(snap.info, tmp_path / "stored", tmp_path / "out")
        assert files == list(snap.files)
        assert tree_state(tmp_path / "out") == tree_state(snap.template)
    finally:
        snap.remove()


def test_restore_detects_a_missing_commit(calc_repo: Path, tmp_path: Path) -> None:
    snap = take_snapshot(locate(calc_repo))
    save_snapshot(snap, tmp_path / "stored")
    info = snap.info.model_copy(update={"fingerprint": "0" * 64})
    with pytest.raises(RepositoryError, match="cannot be rebuilt"):
        restore_snapshot(info, tmp_path / "stored", tmp_path / "out")
    snap.remove()
    assert git(calc_repo, "status", "--porcelain") == ""


def test_nested_repositories_contribute_their_files_by_their_own_rules(
    calc_repo: Path,
) -> None:
    nested = make_repo(calc_repo / "vendor" / "lib", {"mod.py": "X = 1\n", ".gitignore": "*.log\n"})
    (nested / "debug.log").write_text("ignored by the nested repository\n")
    (nested / "new.py").write_text("Y = 2\n")  # untracked there, not ignored
    files = list_files(locate(calc_repo))
    assert {"vendor/lib/mod.py", "vendor/lib/new.py", "vendor/lib/.gitignore"} <= set(files)
    assert "vendor/lib/debug.log" not in files
    assert not [f for f in files if "/.git/" in f or f.endswith("/.git")]


def test_a_snapshot_left_by_a_killed_process_is_removed_by_the_next(
    calc_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    child = (
        "import os, signal, tempfile, sys\nfrom pathlib import Path\n"
        f"tempfile.tempdir = {str(temp)!r}\n"
        "from patchloop.repo.snapshot import locate, take_snapshot\n"
        "take_snapshot(locate(Path(sys.argv[1])))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", child, str(calc_repo)], check=False)
    assert done.returncode == -signal.SIGKILL
    left = list(temp.glob("patchloop-snap-*"))
    assert len(left) == 1
    assert (left[0] / "tree" / "calc.py").is_file()

    snap = take_snapshot(locate(calc_repo))
    try:
        assert not left[0].exists()
        assert list(temp.glob("patchloop-snap-*")) == [snap.template.parent]
    finally:
        snap.remove()
