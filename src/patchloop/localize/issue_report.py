"""The issue ranking as a localization report, or as one signal among the tests' signals."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from patchloop.domain import Location
from patchloop.errors import PatchloopError
from patchloop.localize.codeview import CodeView
from patchloop.localize.issue import IssueRanker, IssueRanking, is_code
from patchloop.localize.localizers import Signals
from patchloop.localize.report import (
    LocalizationReport,
    RankedFile,
    RankedFunction,
    RankedLines,
    SignalScore,
)
from patchloop.localize.rerank import ModelReranker

_T = TypeVar("_T", bound=Any)

__all__ = ["issue_locations", "issue_report", "rank_issue", "ranked_lines", "with_issue_signal"]


def rank_issue(
    view: CodeView,
    text: str,
    *,
    scope: str = "",
    k: int = 10,
    reranker: ModelReranker | None = None,
    notes: list[str] | None = None,
) -> IssueRanking:
    """Rank ``view`` for ``text``; with ``scope``, only files under that directory count and
    their paths come back relative to it. ``reranker`` reorders the best files with a model;
    when the model fails, the ranking stays as it was and ``notes`` says why."""
    prefix = f"{scope.strip('/')}/" if scope.strip("/") not in ("", ".") else ""

    def include(path: str) -> bool:
        return path.startswith(prefix) and is_code(path[len(prefix) :])

    ranking = IssueRanker(view, include=include).rank(text, files=k, symbols=k, lines=k)
    if prefix:
        cut = len(prefix)
        ranking = IssueRanking(
            files=tuple(_strip(f, cut) for f in ranking.files),
            symbols=tuple(_strip(s, cut) for s in ranking.symbols),
            lines=tuple(_strip(r, cut) for r in ranking.lines),
            clues=ranking.clues,
        )
    if reranker is not None:
        try:
            ranking = reranker.rerank(ranking, text, view, prefix)
        except PatchloopError as exc:
            if notes is not None:
                notes.append(f"model reranking skipped: {exc}")
    return ranking


def _strip(item: _T, cut: int) -> _T:
    from dataclasses import replace

    return replace(item, path=item.path[cut:])


def issue_report(
    ranking: IssueRanking, root: Path, *, query: str, notes: Sequence[str], k: int
) -> LocalizationReport:
    """The report of an issue text ranked on its own (no test ran)."""
    if not ranking.files:
        notes = (
            *notes,
            "nothing in the repository matches the text: quote a file, function or error "
            "message it is about, or name a failing test (--test)",
        )
    return LocalizationReport(
        root=str(root),
        query=query,
        signals=("issue",),
        weights={},
        files=tuple(
            RankedFile(
                path=f.path,
                score=f.score,
                signals={"issue": SignalScore(rank=n, score=f.score)},
                features={name: round(v, 4) for name, v in f.features.items()},
                reasons=f.reasons,
            )
            for n, f in enumerate(ranking.files[:k], start=1)
        ),
        functions=tuple(
            RankedFunction(
                path=s.path,
                symbol=s.qualname,
                start_line=s.start,
                end_line=s.end,
                score=s.score,
                signals={"issue": SignalScore(rank=n, score=s.score)},
                features={name: round(v, 4) for name, v in s.features.items()},
                reasons=s.reasons,
            )
            for n, s in enumerate(ranking.symbols[:k], start=1)
        ),
        lines=ranked_lines(ranking, k),
        notes=tuple(notes),
    )


def ranked_lines(ranking: IssueRanking, k: int) -> tuple[RankedLines, ...]:
    """The ranking's line ranges as report entries."""
    return tuple(
        RankedLines(
            path=r.path,
            start_line=r.start,
            end_line=r.end,
            symbol=r.symbol,
            score=r.score,
            reason=r.reason,
        )
        for r in ranking.lines[:k]
    )


def issue_locations(ranking: IssueRanking) -> list[Location]:
    """The ranked definitions as locations of the signal ``issue`` (for fusion)."""
    return [
        Location(
            path=s.path,
            start_line=s.start,
            end_line=s.end,
            symbol=s.qualname,
            score=s.score,
            signals={"issue": s.score},
        )
        for s in ranking.symbols
    ]


def with_issue_signal(signals: Signals, ranking: IssueRanking) -> Signals:
    """``signals`` with the issue ranking added as the signal ``issue``."""
    signals.rankings["issue"] = issue_locations(ranking)
    return signals
