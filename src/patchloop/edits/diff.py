"""Unified diffs with git-style headers, the stored artifact of every patch."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Literal

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


CONTEXT = 3

Opcode = tuple[Literal["replace", "delete", "insert", "equal"], int, int, int, int]


class _TrimmedMatcher(difflib.SequenceMatcher[str]):
    """Matches only what lies between the unchanged head and tail of two line lists.

    difflib is quadratic in the worst case and a one-line fix leaves most of a file alone;
    the head and tail are reported as equal runs, so hunks keep their full context.
    """

    def __init__(self, a: list[str], b: list[str]) -> None:
        limit = min(len(a), len(b))
        head = 0
        while head < limit and a[head] == b[head]:
            head += 1
        tail = 0
        while tail < limit - head and a[-1 - tail] == b[-1 - tail]:
            tail += 1
        super().__init__(None, a[head : len(a) - tail], b[head : len(b) - tail])
        self.full = (a, b, head, tail)

    def get_opcodes(self) -> list[Opcode]:
        a, b, head, tail = self.full
        codes: list[Opcode] = [("equal", 0, head, 0, head)]
        codes += [
            (t, i1 + head, i2 + head, j1 + head, j2 + head)
            for t, i1, i2, j1, j2 in super().get_opcodes()
        ]
        codes.append(("equal", len(a) - tail, len(a), len(b) - tail, len(b)))
        merged: list[Opcode] = []
        for code in codes:
            if code[1] == code[2] and code[3] == code[4]:
                continue
            if merged and code[0] == "equal" == merged[-1][0]:
                merged[-1] = ("equal", merged[-1][1], code[2], merged[-1][3], code[4])
            else:
                merged.append(code)
        return merged


def _range(start: int, stop: int) -> str:
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start if length == 0 else start + 1},{length}"


def _hunks(a: list[str], b: list[str]) -> list[str]:
    out: list[str] = []
    for group in _TrimmedMatcher(a, b).get_grouped_opcodes(CONTEXT):
        first, last = group[0], group[-1]
        out.append(f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [" " + line for line in a[i1:i2]]
                continue
            if tag in ("replace", "delete"):
                out += ["-" + line for line in a[i1:i2]]
            if tag in ("replace", "insert"):
                out += ["+" + line for line in b[j1:j2]]
    return out


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
    hunks = _hunks(split_lines(before), split_lines(after))
    out: list[str] = [f"--- {old_name}\n", f"+++ {new_name}\n"] if hunks else []
    for line in hunks:
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
