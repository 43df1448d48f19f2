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
from patchloop.repo.snapshot import take_snapshot

if TYPE_CHECKING:
    from patchloop.localize.report import SignalScore

__all__ = ["localize"]


def localize(
    task: Annotated[str, typer.Argument(help="What is wrong, in plain words (optional).")] = "",
    repo: Annotated[Path, typer.Option(help="Project directory inside a git work tree.")] = Path(),
    test: Annotated[
        list[str] | None, typer.Option("--test", help="Failing test node id (repeatable).")
    ] = None,
    k: Annotated[int, typer.Option(help="How many files and functions to show.")] = 10,
    index: Annotated[
        bool, typer.Option("--index/--no-index", help="Use the code index (BM25, dense, map).")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> int:
    """Rank the files and functions most likely to hold the fault, and say why."""
    from patchloop.localize import localize_repo
    from patchloop.sandbox import get_sandbox

    where, resolved = resolve(repo, None, {})
    config = resolved.config
    snapshot = take_snapshot(where)
    try:
        retriever = None
        if index and task:
            from patchloop.index import open_retriever

            store = config.index.dir
            retriever = open_retriever(where, store_dir=Path(store) if store else None)
        report = localize_repo(
            snapshot.template,
            task=task,
            tests=tuple(test or ()),
            k=k,
            test_cmd=test_argv(config.tests.cmd),
            retriever=retriever,
            sandbox=get_sandbox(config.sandbox),
            python=sys.executable,
        )
    finally:
        snapshot.remove()
    if as_json:
        print(report.model_dump_json(indent=2))
        return 0
    console = Console(highlight=False)
    files = Table("#", "file", "score", "signals (rank)", title="files")
    for n, ranked in enumerate(report.files, 1):
        files.add_row(str(n), ranked.path, f"{ranked.score:.3f}", _why(ranked.signals))
    console.print(files)
    functions = Table("#", "function", "score", "signals (rank)", title="functions")
    for n, fn in enumerate(report.functions, 1):
        name = f"{fn.path}::{fn.symbol or '<module>'} ({fn.start_line}-{fn.end_line})"
        functions.add_row(str(n), name, f"{fn.score:.3f}", _why(fn.signals))
    console.print(functions)
    for note in report.notes:
        console.print(f"note: {note}")
    return 0


def _why(signals: Mapping[str, SignalScore]) -> str:
    return ", ".join(f"{name}#{score.rank}" for name, score in sorted(signals.items()))
