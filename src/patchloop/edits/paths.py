"""Path safety: turn an edit's path into a file inside the repository, or refuse it."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from patchloop.errors import ApplyError, UnsafeEdit

__all__ = ["normalize_path", "resolve_path"]

_DRIVE = re.compile(r"^[A-Za-z]:")


def _unsafe(path: str, why: str, fix: str) -> UnsafeEdit:
    return UnsafeEdit(
        f"unsafe path {path!r}: {why}", feedback=f"Refused to edit {path!r}: {why}. {fix}"
    )


def normalize_path(path: str) -> str:
    """The repository-relative POSIX form of ``path`` (``./a//b.py`` -> ``a/b.py``).

    Raises :class:`UnsafeEdit` for paths that can never be safe, whatever the tree holds:
    empty, absolute, with a drive letter, backslashes, NUL, ``..`` segments or a ``.git``
    segment.
    """
    relative = "Use a path relative to the repository root, like src/pkg/module.py."
    if not path.strip():
        raise _unsafe(path, "the path is empty", relative)
    if "\x00" in path:
        raise _unsafe(path, "the path contains a NUL character", relative)
    if "\\" in path:
        raise _unsafe(path, "backslashes are not allowed in paths", "Use forward slashes.")
    stripped = path.strip()
    if stripped.startswith("/") or _DRIVE.match(stripped):
        raise _unsafe(path, "absolute paths are not allowed", relative)
    parts = [p for p in stripped.split("/") if p not in ("", ".")]
    if not parts:
        raise _unsafe(path, "the path names no file", relative)
    if ".." in parts:
        raise _unsafe(path, "'..' segments are not allowed", relative)
    # Case-insensitive, because .GIT is the same directory on case-insensitive file systems.
    if any(p.lower() == ".git" for p in parts):
        raise _unsafe(path, "files under .git/ must not be edited", "Edit only project files.")
    return "/".join(parts)


def resolve_path(root: Path, path: str) -> tuple[str, Path]:
    """Check ``path`` against the tree at ``root``; return its normal form and absolute path.

    Besides the checks of :func:`normalize_path`, refuses any symlink on the way to the file
    (one that leaves the repository, and, because ``git apply`` refuses paths beyond a symlink,
    one that stays inside it) and a parent that is a file rather than a directory.
    """
    rel = normalize_path(path)
    real_root = root.resolve()
    parts = PurePosixPath(rel).parts
    current = real_root
    for depth, part in enumerate(parts, start=1):
        current = current / part
        prefix = "/".join(parts[:depth])
        if current.is_symlink():
            target = current.resolve()
            if not target.is_relative_to(real_root):
                raise _unsafe(
                    path,
                    f"{prefix} is a symlink that points outside the repository",
                    "Edit only files inside the repository.",
                )
            real = target.relative_to(real_root).as_posix()
            rest = "/".join(parts[depth:])
            real_path = f"{real}/{rest}" if rest else real
            raise _unsafe(
                path,
                f"{prefix} is a symlink to {real}",
                f"Edit the real file {real_path} instead.",
            )
        if depth < len(parts) and current.exists() and not current.is_dir():
            raise ApplyError(
                f"cannot edit {rel}: {prefix} is a file, not a directory",
                feedback=f"Cannot edit {rel}: {prefix} is a file, not a directory. Check the path.",
            )
    return rel, current
