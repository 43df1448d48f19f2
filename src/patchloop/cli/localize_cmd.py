"""``patchloop localize``: ranked files and functions for a task, with per-signal scores."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from patchloop.cli.common import resolve
from patchloop.cli.fix import test_argv
from patchloop.cli.index_cmd import StoreOption, check_k, index_dir_setting
from patchloop.repo.snapshot import take_snapshot

if TYPE_CHECKING:
    from patchloop.localize.report import (
        LocalizationReport,
        RankedFile,
        RankedFunction,
        SignalScore,
    )

__all__ = ["localize"]


def localize(
    task: Annotated[str, typer.Argument(help="What is wrong, in plain words (optional).")] = "",
    repo: Annotated[Path, typer.Option(help="Project directory inside a git work tree.")] = Path(),
    test: Annotated[
        list[str] | None, typer.Option("--test", help="Failing test node id (repeatable).")
    ] = None,
    run_tests: Annotated[
        bool,
        typer.Option(
            "--run-tests", help="Run the test suite (with coverage) even when no test is named."
        ),
    ] = False,
    k: Annotated[int, typer.Option(help="How many files and functions to show.")] = 10,
    index: Annotated[
        bool, typer.Option("--index/--no-index", help="Use the code index (BM25, dense, map).")
    ] = True,
    index_dir: StoreOption = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="Rerank the best files with this model (KIND:TARGET[#MODEL])."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> int:
    """Rank the files, functions and lines most likely to hold the fault, and say why.

    From the task text alone nothing runs; the tests run when failing tests are named or
    --run-tests is given, and a suite that cannot run is a note, not an error.
    """
    from patchloop.localize import localize_repo
    from patchloop.sandbox import get_sandbox
    from patchloop.verify.nodeids import normalize_test_id

    check_k(k)
    where, resolved = resolve(repo, None, {})
    config = resolved.config
    tests = tuple(normalize_test_id(t, where.project) for t in test or ())
    reranker = None
    if model:
        from patchloop.localize.rerank import ModelReranker
        from patchloop.models import build_model

        reranker = ModelReranker(build_model(model, config.model))
    retriever = None
    if index and task:
        from patchloop.index import open_retriever

        store_dir = index_dir or index_dir_setting(config.index.dir)
        retriever = open_retriever(where, store_dir=store_dir)
    snapshot = take_snapshot(where) if tests or run_tests else None
    sandbox = get_sandbox(config.sandbox) if snapshot else None
    try:
        report = localize_repo(
            snapshot.template if snapshot else where.project,
            task=task,
            tests=tests,
            k=k,
            test_cmd=test_argv(config.tests.cmd),
            retriever=retriever,
            sandbox=sandbox,
            run_tests=run_tests,
            reranker=reranker,
            python=sys.executable,
        )
    finally:
        if sandbox is not None:
            sandbox.close()
        if snapshot is not None:
            snapshot.remove()
        if retriever is not None:
            retriever.close()
    # the run worked on a copy that is gone now; the user's project is what the paths mean
    report = report.model_copy(update={"root": str(where.project)})
    if as_json:
        print(report.model_dump_json(indent=2))
        return 0
    _render(report)
    return 0


def _render(report: LocalizationReport) -> None:
    console = Console(highlight=False)
    files = Table("#", "file", "score", "why", title="files")
    for n, ranked in enumerate(report.files, 1):
        files.add_row(str(n), ranked.path, f"{ranked.score:.3f}", _reasons(ranked))
    console.print(files)
    functions = Table("#", "function", "score", "why", title="functions")
    for n, fn in enumerate(report.functions, 1):
        name = f"{fn.path}::{fn.symbol or '<module>'} ({fn.start_line}-{fn.end_line})"
        functions.add_row(str(n), name, f"{fn.score:.3f}", _reasons(fn))
    console.print(functions)
    if report.lines:
        lines = Table("#", "lines", "why", title="lines")
        for n, span in enumerate(report.lines, 1):
            lines.add_row(str(n), f"{span.path}:{span.start_line}-{span.end_line}", span.reason)
        console.print(lines)
    for note in report.notes:
        console.print(f"note: {note}")


def _reasons(ranked: RankedFile | RankedFunction) -> str:
    parts = list(ranked.reasons[:3])
    tests = {k: v for k, v in ranked.signals.items() if k != "issue" or not ranked.reasons}
    if tests and (not ranked.reasons or set(tests) - {"issue"}):
        parts.append(_why(tests))
    return "; ".join(parts)


def _why(signals: Mapping[str, SignalScore]) -> str:
    return ", ".join(
        f"{name}#{score.rank}" + (f" ({score.score:.3g})" if score.score is not None else "")
        for name, score in sorted(signals.items())
    )
