"""Traceback signal: repository frames of failing tests, mapped to their enclosing functions.

The deepest frame inside the repository and outside test files is the most suspicious one;
each frame further up the stack counts less. Scores are averaged over the failing tests, so a
function on the stack of every failing test scores highest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from patchloop.domain import Frame, Location, TestReport
from patchloop.localize._paths import is_source_path, repo_relative
from patchloop.localize.symbols import SymbolIndex

__all__ = ["frame_locations", "locate_frame", "rank_stacks", "source_frames"]


def source_frames(frames: Iterable[Frame], root: Path) -> list[Frame]:
    """The frames that lie in repository source files (not tests, not installed code).

    Paths are normalized to repository-relative form, so frames reported with absolute paths
    under ``root`` are kept too, whatever their ``in_repo`` flag says.
    """
    kept: list[Frame] = []
    for frame in frames:
        rel = (
            repo_relative(frame.path, root)
            if frame.in_repo or Path(frame.path).is_absolute()
            else None
        )
        if rel is None or not is_source_path(rel) or frame.line <= 0:
            continue
        kept.append(Frame(path=rel, line=frame.line, function=frame.function, in_repo=True))
    return kept


def locate_frame(frame: Frame, index: SymbolIndex) -> Location | None:
    """The function or method enclosing ``frame``; the line itself at module level.

    ``None`` when the file is not in the repository (deleted since, or never was).
    """
    if not index.exists(frame.path):
        return None
    module = index.get(frame.path)
    scope = module.enclosing(frame.line) if module is not None else None
    if scope is None:
        return Location(path=frame.path, start_line=frame.line, end_line=frame.line)
    return Location(
        path=frame.path, start_line=scope.start, end_line=scope.end, symbol=scope.qualname
    )


def frame_locations(
    report: TestReport,
    root: Path,
    nodeids: Sequence[str] | None = None,
    *,
    index: SymbolIndex | None = None,
) -> list[Location]:
    """Functions on the failing tests' stacks, most suspicious first (signal ``traceback``).

    ``nodeids`` restricts the tests considered (default: every failing test of ``report``).
    """
    index = index or SymbolIndex(root)
    wanted = set(report.failing if nodeids is None else nodeids)
    outcomes = [o for o in report.outcomes if o.nodeid in wanted]
    return rank_stacks([o.frames for o in outcomes], root, index, divisor=max(len(outcomes), 1))


def rank_stacks(
    stacks: Sequence[Sequence[Frame]],
    root: Path,
    index: SymbolIndex,
    *,
    divisor: int,
    signal: str = "traceback",
) -> list[Location]:
    """Enclosing functions of the source frames of ``stacks`` (each outermost first).

    A function scores ``1 / (1 + depth)``, depth counting distinct located functions up from
    the deepest one, summed over stacks and divided by ``divisor``.
    """
    scores: dict[tuple[str, str, int], float] = {}
    places: dict[tuple[str, str, int], Location] = {}
    for stack in stacks:
        seen: set[tuple[str, str, int]] = set()
        for frame in reversed(source_frames(stack, root)):
            loc = locate_frame(frame, index)
            if loc is None:  # the file is gone: skip it without pushing the callers down
                continue
            key = (loc.path, loc.symbol, loc.start_line if not loc.symbol else 0)
            if key in seen:  # recursion: count the deepest occurrence only
                continue
            depth = len(seen)
            seen.add(key)
            places.setdefault(key, loc)
            scores[key] = scores.get(key, 0.0) + 1.0 / (1 + depth)
    ranked = sorted(places, key=lambda key: (-scores[key], key))
    out = []
    for key in ranked:
        score = round(scores[key] / divisor, 6)
        out.append(places[key].model_copy(update={"score": score, "signals": {signal: score}}))
    return out
