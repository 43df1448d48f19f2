"""``patchloop index`` / ``search``: the per-branch incremental code index."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from patchloop.cli.common import print_json, resolve
from patchloop.config import load_config
from patchloop.errors import RepositoryError, UsageError

__all__ = ["StoreOption", "app", "check_k", "index_dir_setting", "search"]

app = typer.Typer(help="The code index: build it, or drop unreferenced chunks (gc).")

StoreOption = Annotated[
    Path | None, typer.Option("--index-dir", help="Index store (default: the user cache).")
]


_MAX_NOTES = 20


@app.callback(invoke_without_command=True)
def index(
    ctx: typer.Context,
    repo: Annotated[Path, typer.Option(help="Repository to index.")] = Path(),
    ref: Annotated[
        str | None, typer.Option(help="Branch, tag or commit; default: the working tree.")
    ] = None,
    dense: Annotated[bool, typer.Option("--dense/--lexical", help="Also embed chunks.")] = True,
    index_dir: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the stats as JSON.")] = False,
) -> int:
    """Index a ref incrementally: only changed files are chunked, only new chunks embedded."""
    if ctx.invoked_subcommand is not None:
        return 0
    from patchloop.index import build_index
    from patchloop.index.stats import merge_passes

    where, resolved = resolve(repo, None, {})
    index_dir = index_dir or index_dir_setting(resolved.config.index.dir)
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description:<8}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        disable=as_json or not console.is_terminal,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        # Lexical first: the ref is searchable before the slow embedding phase starts.
        stats = build_index(where.git_root, ref, index_dir, dense=False, progress=progress)
        if dense:
            embedded = build_index(where.git_root, ref, index_dir, dense=True, progress=progress)
            stats = merge_passes(stats, embedded)
    if as_json:
        print_json(stats.model_dump(mode="json"))
        return 0
    print(
        f"indexed {stats.ref} ({stats.files} files): files chunked {stats.files_chunked}, "
        f"reused {stats.files_reused}; chunks new {stats.chunks_new}, reused "
        f"{stats.chunks_reused}; embedded {stats.embedded}, reused {stats.embeddings_reused}"
        + (f"; {stats.dense_pending} chunks not embedded yet" if stats.dense_pending else "")
    )
    if stats.skipped:
        print(f"skipped {stats.skipped} files (binary, too large or unnamed; see the notes)")
    print("time per phase: " + ", ".join(f"{k} {v:.2f}s" for k, v in stats.timings.items()))
    for note in stats.notes[:_MAX_NOTES]:
        print(f"note: {note}")
    if len(stats.notes) > _MAX_NOTES:
        print(f"note: ... and {len(stats.notes) - _MAX_NOTES} more (--json lists them all)")
    return 0


@app.command("gc")
def collect(
    repo: Annotated[
        Path, typer.Option(help="Project whose configuration names the index directory.")
    ] = Path(),
    index_dir: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> int:
    """Drop chunks and embeddings that no manifest references any more."""
    from patchloop.index import gc

    stats = gc(index_dir or _configured_dir(repo))
    if as_json:
        print_json(stats.model_dump(mode="json"))
    else:
        print(
            f"removed {stats.refs} refs, {stats.manifests} manifests, {stats.chunks} chunks, "
            f"{stats.embeddings} embeddings in {stats.seconds:.2f}s"
        )
    return 0


def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    repo: Annotated[Path, typer.Option(help="Repository to search.")] = Path(),
    k: Annotated[int, typer.Option(help="Number of hits.")] = 10,
    ref: Annotated[str | None, typer.Option(help="Branch, tag or commit.")] = None,
    index_dir: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> int:
    """Hybrid search (BM25, embeddings, repo map) over a ref; indexes it lexically if needed."""
    from patchloop.index import search as run_search

    check_k(k)
    where, resolved = resolve(repo, None, {})
    index_dir = index_dir or index_dir_setting(resolved.config.index.dir)
    hits = run_search(where.git_root, query, k=k, ref=ref, store_dir=index_dir)
    if as_json:
        print_json([h.model_dump(mode="json") for h in hits])
        return 0
    table = Table("#", "location", "symbol", "score", "ranks")
    for n, hit in enumerate(hits, 1):
        ranks = ", ".join(f"{s}#{r}" for s, r in sorted(hit.ranks.items()))
        table.add_row(
            str(n), f"{hit.path}:{hit.start_line}-{hit.end_line}", hit.symbol,
            f"{hit.score:.4f}", ranks,
        )  # fmt: skip
    Console().print(table)
    return 0


def check_k(k: int) -> None:
    """``--k`` must ask for at least one result."""
    if k < 1:
        raise UsageError(f"--k must be at least 1, got {k}", hint="pass --k 10, say")


def index_dir_setting(value: str | None) -> Path | None:
    """The configured ``index.dir`` as a path (``None``: the store's default)."""
    return Path(value) if value else None


def _configured_dir(repo: Path) -> Path | None:
    """The index directory the configuration of ``repo`` names (``None``: the default)."""
    if not repo.exists():
        raise UsageError(f"{repo} does not exist", hint="pass --repo with an existing path")
    try:
        _, resolved = resolve(repo, None, {})
    except RepositoryError:
        # gc needs no repository: outside one, the user and environment settings still count
        resolved = load_config(repo.resolve())
    return index_dir_setting(resolved.config.index.dir)
