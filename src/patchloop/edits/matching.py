"""Finding where an edit's search text sits in a file: exact, then whitespace-tolerant.

Texts here use ``\\n`` line endings and end with a newline (or are empty); the apply step
converts to and from the file's own form. A failed or ambiguous match raises
:class:`~patchloop.errors.ApplyError` whose feedback shows the model what to do instead.
"""

from __future__ import annotations

import bisect
import difflib
import re
from dataclasses import dataclass
from typing import Literal

from patchloop.errors import ApplyError

__all__ = ["Match", "find_match", "nearest_lines"]

_WORD = re.compile(r"\w+")
#: Windows scored with difflib when looking for the nearest lines; bounds the cost on big files.
_SCORED_WINDOWS = 20
#: Below this difflib ratio the nearest lines are not worth showing.
_SIMILAR = 0.4


@dataclass(frozen=True)
class Match:
    """A place in the text and what goes there."""

    start: int
    """Offset of the first replaced character."""
    end: int
    """Offset after the last replaced character."""
    line: int
    """1-based line where the match starts."""
    replacement: str
    """Text that replaces ``text[start:end]`` (re-indented for a whitespace-tolerant match)."""
    kind: Literal["exact", "whitespace"]


def _lines(text: str) -> list[str]:
    return text.split("\n")[:-1] if text else []


def _split(block: str) -> list[str]:
    """Lines of an edit's text, without the terminating newline's empty tail."""
    if not block:
        return []
    lines = block.split("\n")
    return lines[:-1] if block.endswith("\n") else lines


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _exact(text: str, search: str, *, aligned: bool) -> list[int]:
    """Start offsets of ``search`` in ``text``; ``aligned`` keeps those spanning whole lines."""
    found: list[int] = []
    at = text.find(search)
    while at != -1:
        end = at + len(search)
        starts_line = at == 0 or text[at - 1] == "\n"
        ends_line = search.endswith("\n") or end == len(text) or text[end] == "\n"
        if not aligned or (starts_line and ends_line):
            found.append(at)
        at = text.find(search, at + 1)
    return found


def _indent_shift(found: list[str], wanted: list[str]) -> tuple[str, str] | None:
    """How the file's indentation differs from the search text's, if uniformly.

    Returns ``(added, removed)``: the file has ``added`` in front of every search line, or
    lacks ``removed`` from the front of every search line. ``None`` when the relative
    indentation differs, which would change the meaning of indented code.
    """
    file_ind = [_indent(line) for line in found]
    want_ind = [_indent(line) for line in wanted]
    if file_ind[0].endswith(want_ind[0]):
        added = file_ind[0][: len(file_ind[0]) - len(want_ind[0])]
        if all(f == added + w for f, w in zip(file_ind, want_ind, strict=True)):
            return added, ""
    if want_ind[0].endswith(file_ind[0]):
        removed = want_ind[0][: len(want_ind[0]) - len(file_ind[0])]
        if all(w == removed + f for f, w in zip(file_ind, want_ind, strict=True)):
            return "", removed
    return None


def _reindent(lines: list[str], added: str, removed: str) -> list[str]:
    out: list[str] = []
    for line in lines:
        if not line.strip():
            out.append("")
        elif added:
            out.append(added + line)
        else:
            # A line indented less than the shift loses only the indentation it has.
            common = 0
            while common < min(len(line), len(removed)) and line[common] == removed[common]:
                common += 1
            out.append(line[common:])
    return out


def _trim_blank_ends(search: list[str], replace: list[str]) -> tuple[list[str], list[str]]:
    """Drop blank lines at both ends of the search text, and as many from the replacement."""
    lead = 0
    while lead < len(search) and not search[lead].strip():
        lead += 1
    trail = 0
    while trail < len(search) - lead and not search[len(search) - 1 - trail].strip():
        trail += 1
    core = search[lead : len(search) - trail]
    rep = list(replace)
    for _ in range(lead):
        if rep and not rep[0].strip():
            rep.pop(0)
    for _ in range(trail):
        if rep and not rep[-1].strip():
            rep.pop()
    return core, rep


def _tolerant(lines: list[str], starts: list[int], search: str, replace: str) -> list[Match]:
    """Matches that ignore trailing whitespace, blank lines and a uniform indentation shift."""
    core, rep = _trim_blank_ends(_split(search), _split(replace))
    wanted = [line for line in core if line.strip()]
    if not wanted:
        return []
    keys = [line.strip() for line in wanted]
    nonblank = [i for i, line in enumerate(lines) if line.strip()]
    stripped = [lines[i].strip() for i in nonblank]
    matches: list[Match] = []
    for k in range(len(nonblank) - len(keys) + 1):
        if stripped[k] != keys[0] or stripped[k : k + len(keys)] != keys:
            continue
        found = [lines[nonblank[k + j]] for j in range(len(keys))]
        shift = _indent_shift(found, wanted)
        if shift is None:
            continue
        first, last = nonblank[k], nonblank[k + len(keys) - 1]
        new_lines = _reindent(rep, *shift)
        replacement = "\n".join(new_lines) + "\n" if new_lines else ""
        end = starts[last] + len(lines[last]) + 1
        matches.append(Match(starts[first], end, first + 1, replacement, "whitespace"))
    return matches


def nearest_lines(text: str, search: str) -> tuple[int, int, float] | None:
    """The window of lines most similar to ``search``: ``(first, last, ratio)``, 1-based.

    Windows have as many lines as the search text. They are ranked cheaply by shared words,
    and only the best few are scored with :class:`difflib.SequenceMatcher`, so big files stay
    fast. ``None`` when the file is empty.
    """
    lines = _lines(text)
    wanted = [line.rstrip() for line in _split(search)]
    if not lines:
        return None
    size = min(max(1, len(wanted)), len(lines))
    words = set(_WORD.findall(search))
    per_line = [len(set(_WORD.findall(line)) & words) for line in lines]
    sums = [0]
    for score in per_line:
        sums.append(sums[-1] + score)
    windows = range(len(lines) - size + 1)
    cheap = [sums[i + size] - sums[i] for i in windows]
    if max(cheap) > 0:
        # Most promising first, so that the quick upper bounds prune the rest.
        chosen = sorted(windows, key=lambda i: (-cheap[i], i))[:_SCORED_WINDOWS]
    else:
        step = max(1, len(windows) // _SCORED_WINDOWS)
        chosen = list(windows)[::step]
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    matcher.set_seq2("\n".join(wanted))
    best: tuple[float, int] = (-1.0, 0)
    for i in chosen:
        matcher.set_seq1("\n".join(line.rstrip() for line in lines[i : i + size]))
        if matcher.real_quick_ratio() <= best[0] or matcher.quick_ratio() <= best[0]:
            continue
        ratio = matcher.ratio()
        if ratio > best[0]:
            best = (ratio, i)
    return best[1] + 1, best[1] + size, best[0]


def _first_line(search: str) -> str:
    for line in search.split("\n"):
        if line.strip():
            return line.strip()[:80]
    return ""


def _no_match(text: str, search: str, replace: str, *, where: str, strict: bool) -> ApplyError:
    how = "exactly" if strict else "exactly or ignoring whitespace"
    begins = _first_line(search)
    head = f"The text to find for {where} does not match the file ({how})"
    head += f"; it begins with `{begins}`." if begins else "."
    parts = [head]
    near = nearest_lines(text, search)
    if near is not None and near[2] >= _SIMILAR:
        first, last, _ = near
        shown = "\n".join(_lines(text)[first - 1 : last])
        parts.append(f"Did you mean these lines ({first}-{last})?\n```\n{shown}\n```")
    else:
        parts.append("Nothing in the file is similar: check that this is the right file.")
    if replace.strip() and replace.strip() in text:
        parts.append("The replacement text is already in the file: do not repeat an edit.")
    parts.append(
        "Copy the text to find exactly from the original file, including indentation and "
        "blank lines, and send the complete set of edits again."
    )
    return ApplyError(f"no match for {where}", feedback="\n".join(parts))


def _pick(matches: list[Match], hint: int | None, *, where: str) -> Match:
    if len(matches) == 1:
        return matches[0]
    if hint is not None:
        ranked = sorted(matches, key=lambda m: abs(m.line - hint))
        if abs(ranked[0].line - hint) < abs(ranked[1].line - hint):
            return ranked[0]
    lines = ", ".join(str(m.line) for m in matches[:12])
    more = f" and {len(matches) - 12} more" if len(matches) > 12 else ""
    raise ApplyError(
        f"ambiguous match for {where}: {len(matches)} places",
        feedback=(
            f"The text to find for {where} matches {len(matches)} places "
            f"(lines {lines}{more}). Include more unchanged lines around the change so that "
            "it matches exactly one place, and send the complete set of edits again."
        ),
    )


def find_match(
    text: str,
    search: str,
    replace: str,
    *,
    where: str,
    hint: int | None = None,
    strict: bool = False,
) -> Match:
    """Where ``search`` is in ``text`` and what replaces it.

    Order: exact matches spanning whole lines; then (unless ``strict``) matches ignoring
    trailing whitespace, blank lines and a uniform indentation shift, with ``replace``
    re-indented the same way; then exact matches inside lines. Several matches are resolved
    by ``hint`` (the nearest wins), otherwise they are an error. ``where`` names the edit in
    messages ("edit 2 of src/app.py").
    """
    lines = _lines(text)
    starts: list[int] = []
    offset = 0
    for line in lines:
        starts.append(offset)
        offset += len(line) + 1

    def at(start: int, kind: Literal["exact", "whitespace"] = "exact") -> Match:
        line = bisect.bisect_right(starts, start) if starts else 1
        return Match(start, start + len(search), max(line, 1), replace, kind)

    matches = [at(s) for s in _exact(text, search, aligned=True)]
    if not matches and not strict:
        matches = _tolerant(lines, starts, search, replace)
        if not matches:
            matches = [at(s) for s in _exact(text, search, aligned=False)]
    if not matches:
        raise _no_match(text, search, replace, where=where, strict=strict)
    return _pick(matches, hint, where=where)
