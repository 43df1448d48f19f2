"""A unified diff told in words: which lines a rewrite changed, removed or added. Pure.

The history of a conversation shows an earlier whole-file rewrite by what it changed. Shown
as a diff, a small model copies the diff into its next file ("diff --git" as the first line
of a Python file); shown whole, it copies the file. One short sentence per changed line, with
the code inline, says the same and gives nothing to paste. Changes of blank lines and trailing
spaces are not told: they change no code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["describe_diff"]

_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@")
_FILE = re.compile(r"^\+\+\+ (?:b/)?(.+)$")


def _code(text: str) -> str:
    """``text`` as inline code, fenced with enough backticks."""
    ticks = "`"
    while ticks in text:
        ticks += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


@dataclass
class _Block:
    """One run of removed and added lines between unchanged ones."""

    at: int  # the old line number the run starts at
    removed: list[tuple[int, str]] = field(default_factory=list)
    added: list[str] = field(default_factory=list)

    def sentences(self) -> list[str]:
        old = [(n, t.strip()) for n, t in self.removed if t.strip()]
        new = [t.strip() for t in self.added if t.strip()]
        if [t for _, t in old] == new:
            same = [t.rstrip() for _, t in self.removed if t.strip()] == [
                t.rstrip() for t in self.added if t.strip()
            ]
            return [] if same else [f"line {n}: {_code(t)} indented differently" for n, t in old]
        if len(old) == len(new):
            return [
                f"line {n}: {_code(a)} became {_code(b)}"
                for (n, a), b in zip(old, new, strict=True)
            ]
        told = [f"removed line {n}: {_code(t)}" for n, t in old]
        after = old[-1][0] if old else self.at - 1
        told += [f"added after line {after}: {_code(t)}" for t in new]
        return told


def _blocks(diff: str) -> list[tuple[str, _Block]]:
    blocks: list[tuple[str, _Block]] = []
    path = ""
    line = 0
    current: _Block | None = None
    for raw in diff.split("\n"):
        if raw.startswith("+++ "):
            found = _FILE.match(raw)
            path = found.group(1).strip() if found else path
            current = None
            continue
        if raw.startswith(("diff --git ", "--- ", "index ", "new file", "deleted file", "\\")):
            current = None
            continue
        hunk = _HUNK.match(raw)
        if hunk:
            line = int(hunk.group(1))
            current = None
            continue
        if raw.startswith("-"):
            if current is None:
                current = _Block(at=line)
                blocks.append((path, current))
            current.removed.append((line, raw[1:]))
            line += 1
        elif raw.startswith("+"):
            if current is None:
                current = _Block(at=line)
                blocks.append((path, current))
            current.added.append(raw[1:])
        else:
            current = None
            line += 1
    return blocks


def describe_diff(diff: str, *, most: int = 12, name_files: bool = False) -> list[str]:
    """One sentence per line ``diff`` changes (old line numbers, code inline), at most
    ``most`` of them and then how many more; empty when it changes only blank lines or
    white space at line ends. Sentences name their file when the diff has several, or with
    ``name_files`` (a rewrite of several files of which one changed)."""
    blocks = _blocks(diff)
    several = name_files or len({path for path, _ in blocks}) > 1
    told: list[str] = []
    for path, block in blocks:
        told += [f"in {path}, {s}" if several else s for s in block.sentences()]
    if len(told) > most:
        told = [*told[:most], f"and {len(told) - most} more changed lines"]
    return told
