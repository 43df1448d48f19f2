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


def test_read_untrusted_reads_regular_files_up_to_the_limit(tmp_path: Path) -> None:
    from patchloop.sandbox import read_untrusted

    small = tmp_path / "small"
    small.write_bytes(b"abc")
    assert read_untrusted(small, 10) == b"abc"
    big = tmp_path / "big"
    big.write_bytes(b"x" * 100)
    assert read_untrusted(big, 10) == b"x" * 11  # one past the limit: the caller sees it
    assert read_untrusted(tmp_path / "missing", 10) is None
    assert read_untrusted(tmp_path, 10) is None  # a directory


def test_read_untrusted_never_blocks_or_follows_links(tmp_path: Path) -> None:
    from patchloop.sandbox import read_untrusted

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # nobody writes: a blocking open or read would wait forever
    assert read_untrusted(fifo, 10) is None
    zero = tmp_path / "zero"
    zero.symlink_to("/dev/zero")  # endless bytes behind a name
    assert read_untrusted(zero, 10) is None
    assert read_untrusted(Path("/dev/zero"), 10) is None
    target = tmp_path / "target"
    target.write_bytes(b"secret")
    link = tmp_path / "link"
    link.symlink_to(target)
    assert read_untrusted(link, 10) is None
