"""How suspicious each line is, from the localizer's ranked locations.

A location's weight is its score relative to the best score (every location keeps a small floor,
so a listed location is never ignored). Inside a coarse span (a whole function or file) lines near
a *line of interest* weigh more: a line-level location inside the span, or an integer ``line``
signal on the location itself (e.g. the frame line of a traceback).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from patchloop.domain import Location

__all__ = ["LineWeights", "line_weights", "location_weights", "proximity"]

FLOOR = 0.05
"""Weight of a location whose score is zero or negative while others are positive."""


def proximity(distance: int) -> float:
    """Factor for a line ``distance`` lines from the nearest line of interest (1.0 at 0, -> 0.5)."""
    return 0.5 + 0.5 / (1 + distance)


def location_weights(locations: Sequence[Location]) -> list[float]:
    """Each location's score relative to the best one, in [FLOOR, 1]; all 1.0 without scores."""
    best = max((loc.score for loc in locations), default=0.0)
    if best <= 0:
        return [1.0 for _ in locations]
    return [max(FLOOR, min(1.0, loc.score / best)) for loc in locations]


@dataclass
class LineWeights:
    """Weight and location rank per 1-based line of one file."""

    weights: dict[int, float]
    ranks: dict[int, int]


def _interest_lines(loc: Location, others: Sequence[Location]) -> list[int]:
    lines = [o.start_line for o in others if o.start_line == o.end_line]
    line_signal = loc.signals.get("line")
    if line_signal is not None and float(line_signal).is_integer():
        lines.append(int(line_signal))
    return [ln for ln in lines if loc.start_line <= ln <= loc.end_line]


def line_weights(
    path: str, locations: Sequence[Location], weights: Sequence[float], line_count: int
) -> LineWeights:
    """Weights of the lines of ``path`` covered by ``locations`` (``weights`` aligned to them)."""
    mine = [(i, loc) for i, loc in enumerate(locations) if loc.path == path]
    out = LineWeights(weights={}, ranks={})
    for rank, loc in mine:
        start = max(1, loc.start_line)
        end = min(line_count, max(loc.end_line, loc.start_line))
        if loc.start_line <= 0 and loc.end_line <= 0:
            start, end = 1, line_count  # no span given: the whole file
        interest = _interest_lines(loc, [o for _, o in mine]) if end > start else []
        for line in range(start, end + 1):
            weight = weights[rank]
            if interest:
                weight *= proximity(min(abs(line - i) for i in interest))
            if weight > out.weights.get(line, 0.0):
                out.weights[line] = weight
                out.ranks[line] = rank
    return out
