"""Spectrum-based fault localization: Ochiai suspiciousness of lines and functions.

``ochiai(line) = ef / sqrt(F * (ef + ep))`` where ``ef`` and ``ep`` count the failing and
passing tests that executed the line and ``F`` counts all failing tests (Abreu et al., 2007).
A function scores as its most suspicious line; ties go to the function with more lines at that
score, then to the one executed by fewer passing tests.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from patchloop.domain import Location
from patchloop.localize._paths import is_source_path
from patchloop.localize.spectrum import CoverageMap
from patchloop.localize.symbols import SymbolIndex

__all__ = ["line_scores", "ochiai"]


def line_scores(
    coverage: CoverageMap,
    failing: Iterable[str] | None = None,
    passing: Iterable[str] | None = None,
) -> dict[tuple[str, int], tuple[float, int, int]]:
    """``(path, line) -> (ochiai, ef, ep)`` for every source line a failing test executed.

    ``failing``/``passing`` default to the outcomes recorded with the coverage. Only lines in
    non-test repository files count.
    """
    report = coverage.report()
    failed = list(dict.fromkeys(report.failing if failing is None else failing))
    passed = list(dict.fromkeys(report.passing if passing is None else passing))
    total_failed = sum(1 for t in failed if t in coverage.lines) or len(failed)
    ef: dict[tuple[str, int], int] = {}
    ep: dict[tuple[str, int], int] = {}
    for tests, counts in ((failed, ef), (passed, ep)):
        for nodeid in tests:
            for path, lines in coverage.lines.get(nodeid, {}).items():
                if not is_source_path(path):
                    continue
                for line in lines:
                    counts[(path, line)] = counts.get((path, line), 0) + 1
    scores = {}
    for key, n_fail in ef.items():
        n_pass = ep.get(key, 0)
        scores[key] = (n_fail / math.sqrt(total_failed * (n_fail + n_pass)), n_fail, n_pass)
    return scores


def ochiai(
    coverage: CoverageMap,
    failing: Iterable[str] | None = None,
    passing: Iterable[str] | None = None,
    *,
    root: Path | None = None,
    level: Literal["function", "line"] = "function",
    index: SymbolIndex | None = None,
) -> list[Location]:
    """Ranked suspicious locations (signal ``sbfl``), most suspicious first.

    ``level="line"`` gives one location per line (its ``symbol`` is the enclosing function
    when ``root`` is given); ``level="function"`` groups lines by enclosing function, which
    needs ``root`` (or ``index``) to parse the files; module-level lines stay single lines.
    """
    scores = line_scores(coverage, failing, passing)
    if index is None and root is not None:
        index = SymbolIndex(root)
    if level == "line":
        ranked = sorted(scores, key=lambda key: (-scores[key][0], scores[key][2], key))
        out = []
        for path, line in ranked:
            scope = None
            if index is not None:
                module = index.get(path)
                scope = module.enclosing(line) if module is not None else None
            out.append(
                _location(
                    path, line, line, scope.qualname if scope else "", scores[(path, line)][0]
                )
            )
        return out
    if index is None:
        raise ValueError("ochiai(level='function') needs root or index to find functions")
    groups: dict[tuple[str, str, int], list[tuple[float, int, int]]] = {}
    spans: dict[tuple[str, str, int], tuple[int, int]] = {}
    for (path, line), value in scores.items():
        module = index.get(path)
        scope = module.enclosing(line) if module is not None else None
        if scope is None:
            key = (path, "", line)
            spans[key] = (line, line)
        else:
            key = (path, scope.qualname, 0)
            spans[key] = (scope.start, scope.end)
        groups.setdefault(key, []).append(value)

    def rank_key(key: tuple[str, str, int]) -> tuple[float, int, int, tuple[str, str, int]]:
        values = groups[key]
        top = max(v[0] for v in values)
        at_top = [v for v in values if v[0] == top]
        return (-top, -len(at_top), min(v[2] for v in at_top), key)

    out = []
    for key in sorted(groups, key=rank_key):
        start, end = spans[key]
        out.append(_location(key[0], start, end, key[1], max(v[0] for v in groups[key])))
    return out


def _location(path: str, start: int, end: int, symbol: str, score: float) -> Location:
    value = round(score, 6)
    return Location(
        path=path,
        start_line=start,
        end_line=end,
        symbol=symbol,
        score=value,
        signals={"sbfl": value},
    )
