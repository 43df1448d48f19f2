"""Ranked files and functions with per-signal scores: what ``patchloop localize`` shows."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from patchloop.domain import Limits, Location, Task, TestReport
from patchloop.errors import PatchloopError, RepositoryError, UsageError
from patchloop.localize.codeview import CodeView
from patchloop.localize.fusion import DEFAULT_WEIGHTS, RRF_K
from patchloop.localize.localizers import (
    FusedLocalizer,
    Signals,
    failing_targets,
    retrieval_query,
)
from patchloop.localize.rerank import ModelReranker
from patchloop.localize.spectrum import CoverageMap, collect_coverage
from patchloop.protocols import IndexedRetriever, Retriever, Sandbox

__all__ = [
    "LocalizationReport",
    "RankedFile",
    "RankedFunction",
    "RankedLines",
    "SignalScore",
    "build_report",
    "localize_repo",
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SignalScore(_Model):
    """One signal's opinion of a file or function."""

    rank: int
    """1-based rank within the signal."""
    score: float | None = None
    """The signal's own score (Ochiai, frame weight, BM25 score, cosine similarity, PageRank);
    ``None`` where the source reported a rank only."""


class RankedFile(_Model):
    """A file and why it was chosen."""

    path: str
    score: float
    """Fused score (weighted reciprocal ranks), or the issue ranker's score when only the
    issue text counted."""
    signals: dict[str, SignalScore] = Field(default_factory=dict)
    features: dict[str, float] = Field(default_factory=dict)
    """The issue ranker's features (BM25, names defined, messages found, ...), when it ran."""
    reasons: tuple[str, ...] = ()
    """Why, in words (``defines `combine_by_coords` (code)``)."""


class RankedFunction(_Model):
    """A function, method or module-level line range and why it was chosen."""

    path: str
    symbol: str
    """Qualified name (``Class.method``); empty for module-level code."""
    start_line: int
    end_line: int
    score: float
    signals: dict[str, SignalScore] = Field(default_factory=dict)
    features: dict[str, float] = Field(default_factory=dict)
    reasons: tuple[str, ...] = ()


class RankedLines(_Model):
    """A line range inside a ranked function, and why."""

    path: str
    start_line: int
    end_line: int
    symbol: str = ""
    score: float = 0.0
    reason: str = ""


class LocalizationReport(_Model):
    """Result of localizing one task: ranked files and functions, best first."""

    root: str
    query: str = ""
    failing: tuple[str, ...] = ()
    """Failing tests that were explained."""
    signals: tuple[str, ...] = ()
    """Signals that produced at least one location."""
    weights: dict[str, float] = Field(default_factory=dict)
    files: tuple[RankedFile, ...] = ()
    functions: tuple[RankedFunction, ...] = ()
    lines: tuple[RankedLines, ...] = ()
    """Line ranges inside the best functions (where a clue or a failure points)."""
    tests_ran: bool = False
    """Whether the tests ran (named failing tests, or ``run_tests``)."""
    notes: tuple[str, ...] = ()
    """Signals that were unavailable, and why."""


def _signal_scores(loc: Location) -> dict[str, SignalScore]:
    out = {}
    for name, value in loc.signals.items():
        if name.endswith("_rank"):
            signal = name.removesuffix("_rank")
            out[signal] = SignalScore(rank=int(value), score=loc.signals.get(signal))
    return out


def build_report(
    localizer: FusedLocalizer,
    signals: Signals,
    root: Path,
    *,
    k: int = 10,
    query: str = "",
    failing: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> LocalizationReport:
    """Fuse ``signals`` and package the top ``k`` files and functions."""
    functions = localizer.fuse(signals)[:k]
    files = localizer.fuse_files(signals)[:k]
    return LocalizationReport(
        root=str(root),
        query=query,
        failing=tuple(failing),
        signals=tuple(sorted(name for name, ranked in signals.rankings.items() if ranked)),
        weights={**DEFAULT_WEIGHTS, **localizer.weights},
        files=tuple(
            RankedFile(path=f.path, score=f.score, signals=_signal_scores(f)) for f in files
        ),
        functions=tuple(
            RankedFunction(
                path=f.path,
                symbol=f.symbol,
                start_line=f.start_line,
                end_line=f.end_line,
                score=f.score,
                signals=_signal_scores(f),
            )
            for f in functions
        ),
        notes=(*notes, *signals.notes),
    )


def localize_repo(
    root: Path,
    *,
    task: str = "",
    tests: Sequence[str] = (),
    k: int = 10,
    test_cmd: Sequence[str] = ("python", "-m", "pytest"),
    retriever: Retriever | None = None,
    sandbox: Sandbox | None = None,
    baseline: TestReport | None = None,
    coverage: bool | None = None,
    run_tests: bool = False,
    view: CodeView | None = None,
    scope: str = "",
    reranker: ModelReranker | None = None,
    limits: Limits | None = None,
    python: str | None = None,
    weights: Mapping[str, float] | None = None,
    rrf_k: int = RRF_K,
) -> LocalizationReport:
    """Localize the fault for ``task`` / ``tests`` in the project at ``root``.

    The issue text alone ranks files, then functions, then line ranges through the code index
    (``view``, or the ``view()`` of ``retriever`` when it has one); nothing runs. The tests
    run only when failing tests are named or ``run_tests`` is set (``coverage=False`` forbids
    it): the test files of ``tests`` (the whole suite when empty) run once through ``sandbox``
    with per-test coverage, which yields the failures' tracebacks and the spectrum, and those
    signals are fused with the issue ranking. A suite that cannot be run or collected is a
    note in the report, never an error; a named test that a collected run does not hold is a
    ``UsageError`` naming the nearest ids. ``scope`` is the project's directory inside the
    index's root (paths are reported relative to it). ``reranker`` lets a model reorder the
    best files. Nothing is printed.
    """
    if not root.is_dir():
        raise RepositoryError(f"{root} is not a directory", hint="pass the project directory")
    if view is None and isinstance(retriever, IndexedRetriever) and task:
        view = retriever.view()
        scope = scope or retriever.scope
    wants_tests = bool(tests) or run_tests
    if coverage is None:
        coverage = wants_tests
    if not task and not tests and retriever is None and not coverage and baseline is None:
        raise UsageError(
            "nothing to localize from", hint="give a task text, failing tests, or enable coverage"
        )
    notes: list[str] = []
    spectrum: CoverageMap | None = None
    if tests:
        from patchloop.verify.nodeids import normalize_test_id

        tests = tuple(normalize_test_id(t, root) for t in tests)
    collected = baseline is not None
    if baseline is None and coverage:
        spectrum = _run_tests(
            root,
            tests=tests,
            test_cmd=test_cmd,
            sandbox=sandbox,
            limits=limits,
            python=python,
            notes=notes,
        )
        if spectrum is not None:
            baseline = spectrum.report()
            collected = spectrum.complete
            if not spectrum.complete:
                notes.append("coverage incomplete: the test run ended before writing it")
    if tests and collected and baseline is not None:
        from patchloop.verify.nodeids import check_named_tests

        broken = _uncollected_files(baseline)
        checkable = tuple(t for t in tests if t.partition("::")[0] not in broken)
        for name in sorted(broken & {t.partition("::")[0] for t in tests}):
            notes.append(f"tests not run: {name} could not be collected")
        check_named_tests(checkable, baseline.by_id())
    the_task = Task(repo=root, description=task, tests=tuple(tests), test_cmd=tuple(test_cmd))
    return _rank(
        the_task,
        baseline,
        spectrum=spectrum,
        retriever=retriever,
        view=view,
        scope=scope,
        k=k,
        notes=notes,
        localizer_options={"weights": weights, "rrf_k": rrf_k, "reranker": reranker},
    )


def _rank(
    task: Task,
    baseline: TestReport | None,
    *,
    spectrum: CoverageMap | None,
    retriever: Retriever | None,
    view: CodeView | None,
    scope: str,
    k: int,
    notes: list[str],
    localizer_options: Mapping[str, Any],
) -> LocalizationReport:
    """The report: the issue ranking alone when no test signal exists, else the fusion."""
    root = task.repo
    tests_ran = baseline is not None and bool(baseline.outcomes)
    baseline = baseline or TestReport()
    ranking = None
    if task.description and view is not None:
        from patchloop.localize.issue_report import rank_issue

        ranking = rank_issue(
            view,
            task.description,
            scope=scope,
            k=k,
            reranker=localizer_options.get("reranker"),
            notes=notes,
        )
    elif task.description and retriever is None:
        notes.append("retrieval signals unavailable: no retriever given")
    localizer = FusedLocalizer(
        retriever if ranking is None or tests_ran else None,
        spectrum,
        localizer_options.get("weights"),
        rrf_k=localizer_options.get("rrf_k", RRF_K),
        issue=False,
    )
    signals = localizer.signals(task, baseline, root)
    failing = failing_targets(task, baseline)
    query = retrieval_query(task, baseline) if retriever is not None else ""
    if ranking is not None:
        from patchloop.localize.issue_report import issue_report, with_issue_signal

        if not any(signals.rankings.get(s) for s in ("traceback", "calls", "sbfl")):
            return issue_report(ranking, root, query=task.description, notes=notes, k=k)
        with_issue_signal(signals, ranking)
    report = build_report(localizer, signals, root, k=k, query=query, failing=failing, notes=notes)
    update: dict[str, object] = {"tests_ran": tests_ran}
    if ranking is not None:
        from patchloop.localize.issue_report import ranked_lines

        update["lines"] = ranked_lines(ranking, k)
    return report.model_copy(update=update)


def _uncollected_files(report: TestReport) -> set[str]:
    """Test files whose collection failed (an error reported for the file as a whole)."""
    return {o.nodeid for o in report.outcomes if "::" not in o.nodeid and o.outcome == "error"}


def _run_tests(
    root: Path,
    *,
    tests: Sequence[str],
    test_cmd: Sequence[str],
    sandbox: Sandbox | None,
    limits: Limits | None,
    python: str | None,
    notes: list[str],
) -> CoverageMap | None:
    """The coverage run of ``tests``' files; ``None`` with a note when it cannot run."""
    try:
        with ExitStack() as made:
            if sandbox is None:  # made here, closed here
                sandbox = made.enter_context(closing(_default_sandbox()))
            with sandbox.workspace(root) as workspace:
                files = list(dict.fromkeys(t.partition("::")[0] for t in tests))
                return collect_coverage(
                    sandbox,
                    workspace,
                    test_cmd,
                    files,
                    limits=limits,
                    python=python or sys.executable,
                )
    except (PatchloopError, OSError) as exc:
        first = (exc.message if isinstance(exc, PatchloopError) else str(exc)).split("\n")[0]
        notes.append(f"tests not run: {first}; ranked from the text alone")
        return None


def _default_sandbox() -> Sandbox:
    try:
        from patchloop.sandbox.local import LocalSandbox  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise UsageError(
            "running the tests needs a sandbox and patchloop.sandbox.local is not available",
            hint="pass sandbox=..., or a baseline TestReport, or coverage=False",
        ) from exc
    sandbox: Sandbox = LocalSandbox()
    return sandbox
