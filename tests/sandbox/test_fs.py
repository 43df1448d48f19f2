"""Removing scratch trees never touches the directory that holds them (``/dev/shm``)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from patchloop.sandbox import remove_tree


def test_a_failed_removal_leaves_the_holding_directory_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = tmp_path / "shm"
    tree = holder / "patchloop-x"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "file").write_text("x")
    holder.chmod(0o1777)
    real_rmdir = os.rmdir

    def refuse_top(path: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        if os.fspath(path) == str(tree):
            raise PermissionError(13, "Permission denied", str(path))
        real_rmdir(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rmdir", refuse_top)
    remove_tree(tree)
    assert stat.S_IMODE(holder.stat().st_mode) == 0o1777
    assert not (tree / "sub").exists()  # the tree's own content went


def test_read_only_directories_inside_the_tree_are_removed(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "locked").mkdir(parents=True)
    (tree / "locked" / "f").write_text("x")
    (tree / "locked").chmod(0o500)
    remove_tree(tree)
    assert not tree.exists()
