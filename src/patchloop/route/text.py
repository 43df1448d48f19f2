"""The text the intent model reads: a task description, condensed to what tells its intent.

Pure. Tracebacks keep their header, innermost frame and exception line (the middle frames say
where, not what); whitespace is collapsed; long texts keep their head and tail. Training and
routing use the same function, named by :data:`PREPROCESS` in every trained head.
"""

from __future__ import annotations

import re

__all__ = ["MAX_CHARS", "PREPROCESS", "condense"]

PREPROCESS = "condense-v1"
"""Name of this function's behaviour; a head trained under another name is refused."""

MAX_CHARS = 600
"""About 150 word pieces: enough for the intent, short enough for a fast embedding."""

_HEADER = "Traceback (most recent call last):"
_FRAME = re.compile(r'^\s*File "[^"]*", line \d+')
_SPACE = re.compile(r"\s+")


def _condense_tracebacks(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != _HEADER:
            out.append(lines[i])
            i += 1
            continue
        out.append(_HEADER)
        i += 1
        last_frame: list[str] = []
        # frames are indented (File line, then usually the source line); the block ends at the
        # first line that is not indented: the exception, or prose
        while i < len(lines) and (lines[i][:1].isspace() or not lines[i].strip()):
            if _FRAME.match(lines[i]):
                last_frame = [lines[i]]
            elif lines[i].strip() and last_frame and len(last_frame) < 2:
                last_frame.append(lines[i])
            i += 1
        out.extend(last_frame)
    return out


def condense(text: str) -> str:
    """``text`` with tracebacks shortened, whitespace collapsed and at most ``MAX_CHARS`` long."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    flat = _SPACE.sub(" ", " ".join(_condense_tracebacks(lines))).strip()
    if len(flat) <= MAX_CHARS:
        return flat
    tail = MAX_CHARS // 3
    return f"{flat[: MAX_CHARS - tail - 5]} ... {flat[-tail:]}"
