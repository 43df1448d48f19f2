"""Path normalization and the checks that keep edits inside the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.edits import normalize_path, resolve_path
from patchloop.errors import ApplyError, UnsafeEdit


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("a.py", "a.py"),
        ("./src//pkg/./m.py", "src/pkg/m.py"),
        (" src/a.py ", "src/a.py"),
        ("git/.gitignore", "git/.gitignore"),
    ],
)
def test_normal_forms(raw: str, normal: str) -> None:
    assert normalize_path(raw) == normal


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "empty"),
        ("/abs/a.py", "absolute"),
        ("D:/a.py", "absolute"),
        ("a/../../b", "'..'"),
        ("..", "'..'"),
        (".git/config", ".git/"),
        ("vendor/.Git/hooks/x", ".git/"),
        ("a\\b.py", "backslashes"),
        ("a\x00b", "NUL"),
        (".", "names no file"),
    ],
)
def test_unsafe_forms(raw: str, why: str) -> None:
    with pytest.raises(UnsafeEdit) as info:
        normalize_path(raw)
    assert why in str(info.value)
    assert why in info.value.feedback


def test_resolve_plain_and_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    assert resolve_path(tmp_path, "src/a.py") == ("src/a.py", tmp_path.resolve() / "src/a.py")
    assert resolve_path(tmp_path, "new/dir/b.py")[0] == "new/dir/b.py"


def test_resolve_through_a_symlinked_root(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    assert resolve_path(tmp_path / "link", "a.py") == ("a.py", real.resolve() / "a.py")


def test_symlink_inside_the_root_names_the_real_path(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "pkg", target_is_directory=True)
    with pytest.raises(UnsafeEdit) as info:
        resolve_path(tmp_path, "alias/sub/m.py")
    assert "Edit the real file pkg/sub/m.py instead" in info.value.feedback


def test_dangling_symlink_out_of_the_root(tmp_path: Path) -> None:
    (tmp_path / "out").symlink_to("/nonexistent/place")
    with pytest.raises(UnsafeEdit, match="outside the repository"):
        resolve_path(tmp_path, "out")


def test_file_used_as_directory(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(ApplyError, match="f is a file, not a directory"):
        resolve_path(tmp_path, "f/g.py")
