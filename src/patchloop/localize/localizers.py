"""The localizers: traceback only, spectrum only, and the fusion of every available signal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from patchloop.domain import Hit, Limits, Location, Task, TestReport
from patchloop.errors import PatchloopError
from patchloop.localize._paths import is_test_path, source_files
from patchloop.localize.calls import call_locations
from patchloop.localize.frames import frame_locations, source_frames
from patchloop.localize.fusion import RRF_K, fuse, fuse_files, hits_to_rankings, promote
from patchloop.localize.mentions import mention_locations
from patchloop.localize.sbfl import ochiai
from patchloop.localize.spectrum import CoverageMap, collect_coverage
from patchloop.localize.symbols import SymbolIndex
from patchloop.protocols import IndexedRetriever, Retriever, Sandbox, ScoredRetriever

__all__ = [
    "FusedLocalizer",
    "SBFLLocalizer",
    "Signals",
    "TracebackLocalizer",
    "failing_targets",
    "relocalize",
    "retrieval_query",
]

#: Characters of the retrieval query (task text, failing test names, failure messages).
MAX_QUERY_CHARS = 4000


def failing_targets(task: Task, baseline: TestReport) -> list[str]:
    """The failing tests localization explains: the task's tests that fail, else all failing."""
    failing = baseline.failing
    named = [t for t in task.tests if t in set(failing)]
    return named or list(failing)


def retrieval_query(task: Task, baseline: TestReport) -> str:
    """Query text for retrievers: task description, failing test names and their messages."""
    parts = [task.description.strip()]
    by_id = baseline.by_id()
    for nodeid in failing_targets(task, baseline):
        outcome = by_id.get(nodeid)
        name = nodeid.rpartition("::")[2].partition("[")[0]
        parts.append(f"{name}: {outcome.message}" if outcome and outcome.message else name)
    return "\n".join(p for p in parts if p)[:MAX_QUERY_CHARS]


class TracebackLocalizer:
    """Frames of the failing tests; the code those tests call when no frame is in the source."""

    name = "traceback"

    def __init__(self, *, calls: bool = True) -> None:
        self.calls = calls

    def rankings(
        self, task: Task, baseline: TestReport, root: Path, index: SymbolIndex | None = None
    ) -> dict[str, list[Location]]:
        """Signals ``traceback`` and ``calls`` (the latter only for tests without source frames)."""
        index = index or SymbolIndex(root)
        targets = failing_targets(task, baseline)
        by_id = baseline.by_id()
        out = {"traceback": frame_locations(baseline, root, targets, index=index)}
        if self.calls:
            bare = [t for t in targets if t in by_id and not source_frames(by_id[t].frames, root)]
            out["calls"] = call_locations(bare, root, index=index) if bare else []
        return out

    def localize(self, task: Task, baseline: TestReport, root: Path, k: int = 20) -> list[Location]:
        """Frame locations first (deepest first), then called code, at most ``k``."""
        ranked = self.rankings(task, baseline, root)
        frames = ranked["traceback"]
        known = {(loc.path, loc.symbol) for loc in frames}
        calls = [loc for loc in ranked.get("calls", []) if (loc.path, loc.symbol) not in known]
        return (frames + calls)[:k]


class SBFLLocalizer:
    """Ochiai over per-test coverage, given or recorded through ``sandbox`` on first use."""

    name = "sbfl"

    def __init__(
        self,
        coverage: CoverageMap | None = None,
        *,
        sandbox: Sandbox | None = None,
        limits: Limits | None = None,
        python: str | None = None,
        level: Literal["function", "line"] = "function",
    ) -> None:
        self.coverage = coverage
        self.sandbox = sandbox
        self.limits = limits
        self.python = python
        self.level = level

    def coverage_for(self, task: Task, baseline: TestReport, root: Path) -> CoverageMap | None:
        """The coverage map, recording it over the baseline's tests when a sandbox is set."""
        if self.coverage is None and self.sandbox is not None:
            nodeids = [o.nodeid for o in baseline.outcomes]
            with self.sandbox.workspace(root) as workspace:
                self.coverage = collect_coverage(
                    self.sandbox,
                    workspace,
                    task.test_cmd,
                    nodeids,
                    limits=self.limits,
                    python=self.python,
                )
        return self.coverage

    def localize(self, task: Task, baseline: TestReport, root: Path, k: int = 20) -> list[Location]:
        """Most suspicious functions (or lines) first; empty without coverage."""
        coverage = self.coverage_for(task, baseline, root)
        if coverage is None:
            return []
        failing = failing_targets(task, baseline) if baseline.outcomes else None
        return ochiai(coverage, failing, root=root, level=self.level)[:k]


@dataclass
class Signals:
    """Per-signal rankings of one localization, and notes on signals that were unavailable."""

    rankings: dict[str, list[Location]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class FusedLocalizer:
    """Reciprocal-rank fusion of traceback, calls, mentions, SBFL and retrieval signals.

    Every signal is optional: with no retriever and no coverage it ranks by the failing tests'
    frames (and the code they call) and the places the task text names.
    """

    name = "fused"

    def __init__(
        self,
        retriever: Retriever | None = None,
        coverage: CoverageMap | None = None,
        weights: Mapping[str, float] | None = None,
        *,
        rrf_k: int = RRF_K,
        retrieval_k: int = 50,
        calls: bool = True,
        mentions: bool = True,
        issue: bool = True,
    ) -> None:
        self.retriever = retriever
        self.issue = issue
        """Add the issue ranker's definitions (signal ``issue``) when the retriever has a
        ``view()`` of its index and the task has a description."""
        self.coverage = coverage
        self.weights = dict(weights or {})
        self.rrf_k = rrf_k
        self.retrieval_k = retrieval_k
        self.calls = calls
        self.mentions = mentions

    def signals(self, task: Task, baseline: TestReport, root: Path) -> Signals:
        """Every available signal's ranking (before fusion)."""
        index = SymbolIndex(root)
        result = Signals()
        result.rankings.update(
            TracebackLocalizer(calls=self.calls).rankings(task, baseline, root, index)
        )
        if self.mentions and task.description:
            result.rankings["mentions"] = mention_locations(
                task.description, root, source_files(root), index=index
            )
        if self.coverage is not None:
            failing = failing_targets(task, baseline) if baseline.outcomes else None
            result.rankings["sbfl"] = ochiai(self.coverage, failing, index=index)
        if self.retriever is not None:
            query = retrieval_query(task, baseline)
            try:
                scored = _search(self.retriever, query, self.retrieval_k)
            except PatchloopError as exc:
                result.notes.append(f"retrieval unavailable: {exc}")
            else:
                if not task.allow_test_edits:
                    scored = [(hit, raw) for hit, raw in scored if not is_test_path(hit.path)]
                hits = [hit for hit, _ in scored]
                raws = [raw for _, raw in scored]
                for signal, ranked in hits_to_rankings(hits, raws).items():
                    result.rankings[signal] = [_align(loc, index) for loc in ranked]
            if self.issue and task.description.strip():
                self._issue_signal(task, result)
        return result

    def _issue_signal(self, task: Task, result: Signals) -> None:
        from patchloop.localize.issue_report import issue_locations, rank_issue

        retriever = self.retriever
        if not isinstance(retriever, IndexedRetriever):
            return
        try:
            ranking = rank_issue(
                retriever.view(), task.description, scope=retriever.scope, k=self.retrieval_k
            )
        except PatchloopError as exc:
            result.notes.append(f"issue ranking unavailable: {exc}")
            return
        found = issue_locations(ranking)
        if not task.allow_test_edits:
            found = [loc for loc in found if not is_test_path(loc.path)]
        result.rankings["issue"] = found

    def fuse(self, signals: Signals) -> list[Location]:
        """Fused function-level ranking of ``signals``."""
        return fuse(signals.rankings, weights=self.weights, rrf_k=self.rrf_k)

    def fuse_files(self, signals: Signals) -> list[Location]:
        """Fused file-level ranking of ``signals``."""
        return fuse_files(signals.rankings, weights=self.weights, rrf_k=self.rrf_k)

    def localize(self, task: Task, baseline: TestReport, root: Path, k: int = 20) -> list[Location]:
        """The ``k`` most suspicious units, with per-signal scores and ranks in ``signals``."""
        return self.fuse(self.signals(task, baseline, root))[:k]

    def relocalize(
        self, previous: Sequence[Location], failure: TestReport, root: Path
    ) -> list[Location]:
        """See :func:`relocalize`."""
        return relocalize(previous, failure, root)


def relocalize(previous: Sequence[Location], failure: TestReport, root: Path) -> list[Location]:
    """Update a ranking after a failed attempt: the new failure's source frames move to the
    front (deepest first); everything else keeps its order."""
    return promote(previous, frame_locations(failure, root))


def _search(retriever: Retriever, query: str, k: int) -> list[tuple[Hit, Mapping[str, float]]]:
    """Hits with their raw per-signal scores where the retriever reports them."""
    if isinstance(retriever, ScoredRetriever):
        return list(retriever.search_scored(query, k))
    return [(hit, {}) for hit in retriever.search(query, k)]


def _align(loc: Location, index: SymbolIndex) -> Location:
    """Put a retrieved chunk on the function that the other signals would name."""
    module = index.get(loc.path)
    if module is None:
        return loc
    if loc.symbol and any(s.qualname == loc.symbol for s in module.scopes):
        return loc
    scope = module.enclosing(loc.start_line)
    if scope is None:
        return loc
    return loc.model_copy(
        update={"symbol": scope.qualname, "start_line": scope.start, "end_line": scope.end}
    )
