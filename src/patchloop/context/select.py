"""Choosing which files (or parts of files) the model sees, within a token budget."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from patchloop.context.layout import ContextFile
from patchloop.domain import Hit, Location

__all__ = ["choose_files"]

#: Lines of context kept around each excerpt span.
MARGIN = 3


def _merge(spans: Iterable[tuple[int, int]], n_lines: int) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted((max(1, s - MARGIN), min(n_lines, e + MARGIN)) for s, e in spans):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def choose_files(
    root: Path,
    *,
    locations: Sequence[Location] = (),
    test_files: Sequence[str] = (),
    hits: Sequence[Hit] = (),
    count_tokens: Callable[[str], int],
    max_tokens: int,
    max_file_tokens: int,
) -> list[ContextFile]:
    """Files by priority (localized code, failing tests, retrieval hits) until the budget.

    A file over ``max_file_tokens`` is reduced to the spans that located or retrieved it.
    """
    order: list[str] = []
    spans: dict[str, list[tuple[int, int]]] = {}
    for path, span in [
        *((loc.path, (loc.start_line, loc.end_line)) for loc in locations),
        *((path, None) for path in test_files),
        *((hit.path, (hit.start_line, hit.end_line)) for hit in hits),
    ]:
        if path not in spans:
            order.append(path)
            spans[path] = []
        if span is not None:
            spans[path].append(span)
    chosen: list[ContextFile] = []
    used = 0
    for path in order:
        try:
            text = (root / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        tokens = count_tokens(text)
        if tokens > max_file_tokens and spans[path]:
            excerpt = ContextFile(path, text, _merge(spans[path], text.count("\n") + 1))
            lines = text.splitlines(keepends=True)
            tokens = sum(count_tokens("".join(lines[s - 1 : e])) for s, e in excerpt.spans)
            candidate = excerpt
        else:
            candidate = ContextFile(path, text)
        if tokens > max_file_tokens and not candidate.spans:
            continue
        if used + tokens > max_tokens:
            continue
        chosen.append(candidate)
        used += tokens
    return chosen
