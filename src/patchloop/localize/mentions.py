"""Mentions signal: tracebacks and file names written in the task text, mapped to the repository.

Issue reports often paste a traceback from another machine (absolute paths of somebody's
site-packages) or name the file to change; both point at code more precisely than words do.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from patchloop.domain import Frame, Location
from patchloop.localize.frames import rank_stacks
from patchloop.localize.symbols import SymbolIndex

__all__ = ["frames_from_text", "match_path", "mention_locations"]

#: ``File "path", line N, in name`` as Python prints tracebacks.
_PY_FRAME = re.compile(r'File "(?P<path>[^"\n]+)", line (?P<line>\d+)(?:, in (?P<func>\S+))?')
#: ``path:N: in name`` as pytest prints frames.
_PYTEST_FRAME = re.compile(
    r"^[ \t]*(?P<path>[^\s:\"'<>]+\.py):(?P<line>\d+): in (?P<func>\S+)", re.MULTILINE
)
_PY_PATH = re.compile(r"(?<![\w./-])((?:[\w.-]+/)*[\w-]+\.py)\b")
_DOTTED = re.compile(r"\b([A-Za-z_]\w*(?:\.[A-Za-z_]\w*){1,})\b")
#: Mentioned files score below any traceback frame of the same text.
_FILE_SCORE = 0.5


def frames_from_text(text: str) -> list[list[Frame]]:
    """Traceback stacks pasted into ``text``, each outermost frame first, paths as written."""
    stacks: list[list[Frame]] = []
    for block in re.split(r"Traceback \(most recent call last\):", text):
        found: list[tuple[int, Frame]] = []
        for pattern in (_PY_FRAME, _PYTEST_FRAME):
            for m in pattern.finditer(block):
                frame = Frame(path=m["path"], line=int(m["line"]), function=m["func"] or "")
                found.append((m.start(), frame))
        if found:
            stacks.append([frame for _, frame in sorted(found, key=lambda item: item[0])])
    return stacks


def match_path(path: str, files: Sequence[str]) -> str | None:
    """The repository file that ``path`` (possibly from another machine) most likely names.

    The longest common suffix of path components wins; a bare file name (one component) is
    accepted only when exactly one file has it.
    """
    parts = path.replace("\\", "/").split("/")
    best: str | None = None
    best_len = 0
    tie = False
    for candidate in files:
        cparts = candidate.split("/")
        n = 0
        while n < min(len(parts), len(cparts)) and parts[-1 - n] == cparts[-1 - n]:
            n += 1
        if n > best_len:
            best, best_len, tie = candidate, n, False
        elif n == best_len and n > 0:
            tie = True
    if best is None or tie:
        return None
    return best


def mention_locations(
    text: str, root: Path, files: Sequence[str], *, index: SymbolIndex | None = None
) -> list[Location]:
    """Locations named by ``text`` (signal ``mentions``): traceback frames first, then files.

    ``files`` are the repository's source files, as ``_paths.source_files`` lists them.
    """
    index = index or SymbolIndex(root)
    stacks = []
    for stack in frames_from_text(text):
        mapped = []
        for frame in stack:
            rel = match_path(frame.path, files)
            if rel is not None:
                mapped.append(frame.model_copy(update={"path": rel, "in_repo": True}))
        if mapped:
            stacks.append(mapped)
    ranked = rank_stacks(stacks, root, index, divisor=max(len(stacks), 1), signal="mentions")
    seen = {loc.path for loc in ranked}
    for n, rel in enumerate(_mentioned_files(text, files)):
        if rel in seen:
            continue
        seen.add(rel)
        module = index.get(rel)
        score = round(_FILE_SCORE / (1 + n), 6)
        ranked.append(
            Location(
                path=rel,
                start_line=1,
                end_line=max(module.lines if module else 1, 1),
                score=score,
                signals={"mentions": score},
            )
        )
    return ranked


def _mentioned_files(text: str, files: Sequence[str]) -> list[str]:
    hits: list[tuple[int, str]] = []
    for m in _PY_PATH.finditer(text):
        rel = match_path(m.group(1), files)
        if rel is not None:
            hits.append((m.start(), rel))
    by_module = {
        f.removesuffix(".py").removesuffix("/__init__").replace("/", "."): f for f in files
    }
    for m in _DOTTED.finditer(text):
        dotted = m.group(1)
        # ``pkg.mod.func`` names the module ``pkg.mod``: try the longest importable prefix.
        parts = dotted.split(".")
        for cut in range(len(parts), 1, -1):
            for prefix in ("", "src."):
                rel = by_module.get(prefix + ".".join(parts[:cut]))
                if rel is not None:
                    hits.append((m.start(), rel))
                    break
            else:
                continue
            break
    hits.sort(key=lambda item: item[0])
    return list(dict.fromkeys(rel for _, rel in hits))
