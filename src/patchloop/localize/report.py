"""Ranked files and functions with per-signal scores: what ``patchloop localize`` shows."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from patchloop.domain import Limits, Location, Task, TestReport
from patchloop.errors import RepositoryError, UsageError
from patchloop.localize.fusion import DEFAULT_WEIGHTS, RRF_K
from patchloop.localize.localizers import (
    FusedLocalizer,
    Signals,
    failing_targets,
    retrieval_query,
)
from patchloop.localize.spectrum import CoverageMap, collect_coverage
from patchloop.protocols import Retriever, Sandbox

__all__ = [
    "LocalizationReport",
    "RankedFile",
    "RankedFunction",
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
    """Fused score (weighted reciprocal ranks)."""
    signals: dict[str, SignalScore] = Field(default_factory=dict)


class RankedFunction(_Model):
    """A function, method or module-level line range and why it was chosen."""

    path: str
    symbol: str
    """Qualified name (``Class.method``); empty for module-level code."""
    start_line: int
    end_line: int
    score: float
    signals: dict[str, SignalScore] = Field(default_factory=dict)


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
    coverage: bool = True,
    limits: Limits | None = None,
    python: str | None = None,
    weights: Mapping[str, float] | None = None,
    rrf_k: int = RRF_K,
) -> LocalizationReport:
    """Localize the fault for ``task`` / ``tests`` in the project at ``root``.

    Without ``baseline``, runs the test files of ``tests`` (the whole suite when empty) once
    through ``sandbox`` with per-test coverage, which yields both the failures' tracebacks and
    the spectrum; the other tests of those files are the passing runs that SBFL contrasts the
    failures with. A named test that run (or ``baseline``) does not hold is a ``UsageError``
    that names the nearest collected ids. ``coverage=False`` skips that run (then only the
    task text and the retriever count). Nothing is printed; the caller renders the report.
    """
    if not root.is_dir():
        raise RepositoryError(f"{root} is not a directory", hint="pass the project directory")
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
        sandbox = sandbox or _default_sandbox()
        with sandbox.workspace(root) as workspace:
            files = list(dict.fromkeys(t.partition("::")[0] for t in tests))
            spectrum = collect_coverage(
                sandbox, workspace, test_cmd, files, limits=limits, python=python or sys.executable
            )
        baseline = spectrum.report()
        collected = spectrum.complete
        if not spectrum.complete:
            notes.append("coverage incomplete: the test run ended before writing it")
    if tests and collected and baseline is not None:
        from patchloop.verify.nodeids import check_named_tests

        check_named_tests(tuple(tests), baseline.by_id())
    baseline = baseline or TestReport()
    if retriever is None:
        notes.append("retrieval signals unavailable: no retriever given")
    the_task = Task(repo=root, description=task, tests=tuple(tests), test_cmd=tuple(test_cmd))
    localizer = FusedLocalizer(retriever, spectrum, weights, rrf_k=rrf_k)
    signals = localizer.signals(the_task, baseline, root)
    return build_report(
        localizer,
        signals,
        root,
        k=k,
        query=retrieval_query(the_task, baseline) if retriever is not None else "",
        failing=failing_targets(the_task, baseline),
        notes=notes,
    )


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
