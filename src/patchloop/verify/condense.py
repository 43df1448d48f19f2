"""Pytest's long failure report, condensed to what a model needs to see. Pure.

A long report repeats itself: the test's source around the failing line, a location line per
frame, caret lines under each expression, section separators, the same frame over and over in
a recursion. What names the cause is small: the arguments of a parametrized case, the failing
statement (the ``>`` line and its continuation), and the ``E`` lines with the error and the
assertion's comparison. :func:`condense` keeps those, in order, each run of repeats once.
"""

from __future__ import annotations

import re

__all__ = ["case_arguments", "condense", "group_key"]

_SEPARATOR = re.compile(r"^(?:_ )+_?\s*$")
_CARETS = re.compile(r"^\s*[\^~]+\s*$")
_LOCATION = re.compile(r"^[^\s:]+:\d+:(?: in \S+)?\s*$|^[^\s:]+:\d+: \w*(?:Error|Exception)\s*$")
_ARGUMENT = re.compile(r"^[A-Za-z_]\w* = \S")
_NOISE = (
    "Use -v to get more diff",
    "Use -vv to get more diff",
    "Full diff:",
    "...Full output truncated",
)
_PARAMS = re.compile(r"\[[^\[\]]*\]$")


def _is_noise(line: str) -> bool:
    stripped = line.strip()
    if not stripped or _SEPARATOR.match(line) or _CARETS.match(line):
        return True
    if _LOCATION.match(stripped):
        return True
    body = stripped.removeprefix("E").strip()
    return any(body.startswith(n) for n in _NOISE)


def case_arguments(details: str) -> str:
    """The arguments pytest printed for a parametrized case (``a = 1, b = 2``), or ``""``."""
    for line in details.splitlines():
        if not line.strip():
            break
        if _ARGUMENT.match(line):
            return line.strip()
    return ""


def condense(details: str) -> str:
    """The failing statements and error lines of pytest's long report, repeats shown once."""
    kept: list[str] = []
    in_statement = False
    for line in details.splitlines():
        if _ARGUMENT.match(line) and not kept:
            continue  # shown by the caller as the case's arguments
        if line.startswith(">"):
            in_statement = True
            kept.append(line.rstrip())
            continue
        if line.startswith("E ") or line == "E":
            in_statement = False
            if line[1:].strip() and not _is_noise(line):
                kept.append(line.rstrip())
            continue
        if in_statement and line.startswith(" ") and not _is_noise(line):
            kept.append(line.rstrip())
            continue
        in_statement = False
    out: list[str] = []
    repeats = 0
    for line in kept:
        if out and line == out[-1]:
            repeats += 1
            continue
        if repeats:
            out[-1] += f"  (repeated {repeats + 1} times)"
            repeats = 0
        out.append(line)
    if repeats:
        out[-1] += f"  (repeated {repeats + 1} times)"
    return "\n".join(out)


def group_key(nodeid: str, message: str) -> tuple[str, str]:
    """Cases of one parametrized test failing the same way share this key."""
    return (_PARAMS.sub("", nodeid), message.strip())
