"""Unified diffs with git-style headers, the stored artifact of every patch."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from patchloop.domain import FileChange, Patch

__all__ = ["make_patch", "split_lines", "unified_diff"]


def split_lines(text: str) -> list[str]:
    """Lines of ``text`` with their endings, split at ``\\n`` only, as git splits them.

    Unlike :meth:`str.splitlines`, a form feed, vertical tab, ``\\x1c``-``\\x1e``, NEL, U+2028
    or U+2029 inside a line stays in it, so a diff built from these lines applies with git.
    """
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def _file_diff(change: FileChange) -> str:
    before = change.before or ""
    after = change.after or ""
    if before == after and (change.before is None) == (change.after is None):
        return ""
    old_name = "/dev/null" if change.before is None else f"a/{change.path}"
    new_name = "/dev/null" if change.after is None else f"b/{change.path}"
    header = [f"diff --git a/{change.path} b/{change.path}\n"]
    if change.before is None:
        header.append("new file mode 100644\n")
    elif change.after is None:
        header.append("deleted file mode 100644\n")
    lines = list(
        difflib.unified_diff(
            split_lines(before),
            split_lines(after),
            fromfile=old_name,
            tofile=new_name,
            n=3,
        )
    )
    out: list[str] = []
    for line in lines:
        out.append(line)
        if not line.endswith("\n"):
            # Same marker as git, so `git apply` and `patch` accept the diff.
            out.append("\n\\ No newline at end of file\n")
    return "".join(header + out)


def unified_diff(changes: Iterable[FileChange]) -> str:
    """One unified diff over ``changes``, files in path order."""
    return "".join(_file_diff(c) for c in sorted(changes, key=lambda c: c.path))


def make_patch(changes: Iterable[FileChange], label: str = "") -> Patch:
    """A :class:`Patch` of the changes that actually change something, with its diff."""
    real = tuple(sorted((c for c in changes if c.before != c.after), key=lambda c: c.path))
    return Patch(diff=unified_diff(real), changes=real, label=label)
