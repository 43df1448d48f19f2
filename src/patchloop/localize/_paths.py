"""Path rules of localization: what counts as a test file and as repository source."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

__all__ = ["TEST_DIRS", "is_source_path", "is_test_path", "repo_relative", "source_files"]

#: Directory names whose contents are tests (``testing`` is pytest's own layout).
TEST_DIRS = frozenset({"tests", "test", "testing"})
#: Directory names that hold installed or generated code, never the project's source.
_FOREIGN_DIRS = frozenset(
    {"site-packages", "dist-packages", ".venv", "venv", ".tox", ".nox", "node_modules", ".git"}
)


def is_test_path(path: str) -> bool:
    """True for ``test_*.py``, ``*_test.py``, ``conftest.py`` and files under a test directory."""
    p = PurePosixPath(path)
    name = p.name
    if name == "conftest.py" or name.endswith("_test.py"):
        return True
    if name.startswith("test_") and name.endswith(".py"):
        return True
    return any(part in TEST_DIRS for part in p.parts[:-1])


def is_source_path(path: str) -> bool:
    """True for a repository-relative Python file that is neither a test nor foreign code."""
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or p.suffix != ".py":
        return False
    if any(part in _FOREIGN_DIRS for part in p.parts):
        return False
    return not is_test_path(path)


def repo_relative(path: str, root: Path) -> str | None:
    """``path`` as a POSIX path relative to ``root``, or ``None`` when it lies outside.

    Relative paths are taken as already relative to ``root``; absolute ones must be under it
    (symlinks resolved, since tracebacks report resolved paths while ``root`` may not be).
    """
    if not path or path.startswith("<"):
        return None
    candidate = Path(path)
    if not candidate.is_absolute():
        rel = PurePosixPath(path.replace("\\", "/"))
        if ".." in rel.parts:
            return None
        return rel.as_posix()
    for base in _roots(root):
        try:
            return candidate.relative_to(base).as_posix()
        except ValueError:
            pass
    try:
        resolved = candidate.resolve()
    except OSError:
        return None
    for base in _roots(root):
        try:
            return resolved.relative_to(base).as_posix()
        except ValueError:
            pass
    return None


def _roots(root: Path) -> list[Path]:
    bases = [root.absolute()]
    try:
        resolved = root.resolve()
    except OSError:
        return bases
    if resolved != bases[0]:
        bases.append(resolved)
    return bases


def source_files(root: Path, *, limit: int = 200_000) -> list[str]:
    """Repository-relative source files under ``root`` (sorted; hidden and foreign dirs pruned)."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and d not in _FOREIGN_DIRS
        )
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        for name in filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if is_source_path(rel):
                found.append(rel)
                if len(found) >= limit:
                    return sorted(found)
    return sorted(found)
