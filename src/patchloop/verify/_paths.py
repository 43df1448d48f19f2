"""Rewrite absolute workspace and scratch paths in test output so it is repo-relative and stable."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from patchloop.domain import Frame
from patchloop.sandbox import TEMP_PREFIX

__all__ = ["PathMapper"]

#: Any absolute path into a patchloop scratch directory (``/dev/shm/patchloop-run-k3j_x/...``).
_SCRATCH = re.compile(r"(?:/[^\s/'\"():,]+)*/" + re.escape(TEMP_PREFIX) + r"[a-z]+-[A-Za-z0-9_]+")
_THIRD_PARTY = ("site-packages", "dist-packages")


class PathMapper:
    """Maps paths under ``workspace`` to repository-relative POSIX paths."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = Path(os.path.abspath(workspace))
        self._prefixes = sorted(
            {str(self.workspace), os.path.realpath(self.workspace)}, key=len, reverse=True
        )

    def relative(self, path: str) -> str | None:
        """``path`` relative to the workspace (POSIX), or ``None`` when it lies outside."""
        absolute = os.path.abspath(path)
        for prefix in self._prefixes:
            if absolute == prefix:
                return "."
            if absolute.startswith(prefix + os.sep):
                return PurePosixPath(*Path(absolute[len(prefix) + 1 :]).parts).as_posix()
        return None

    def scrub(self, text: str) -> str:
        """``text`` with workspace paths made relative and scratch paths replaced by ``<tmp>``."""
        if not text:
            return text
        for prefix in self._prefixes:
            text = text.replace(prefix + os.sep, "").replace(prefix, ".")
        return _SCRATCH.sub("<tmp>", text)

    def frame(self, path: str, line: int, function: str) -> Frame:
        """A :class:`Frame`; ``in_repo`` for workspace files that are not installed packages."""
        rel = self.relative(path)
        if rel is None:
            return Frame(path=self.scrub(path), line=line, function=function, in_repo=False)
        in_repo = not any(part in _THIRD_PARTY for part in PurePosixPath(rel).parts)
        return Frame(path=rel, line=line, function=function, in_repo=in_repo)
