"""``patchloop runs``: list, show and replay recorded runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from patchloop.cli.common import EXIT_NOT_FIXED, EXIT_VERIFIED, print_json, resolve
from patchloop.cli.fix import summary
from patchloop.cli.progress import Progress
from patchloop.config import Config
from patchloop.store import RunStore

__all__ = ["app"]

app = typer.Typer(help="Recorded runs: list, show, replay.", no_args_is_help=True)

RepoOption = Annotated[Path, typer.Option(help="Project directory inside a git work tree.")]


def _store(repo: Path) -> RunStore:
    return _open(repo)[0]


def _open(repo: Path) -> tuple[RunStore, Config]:
    where, resolved = resolve(repo, None, {})
    return RunStore(where.project / resolved.config.state_dir), resolved.config


@app.command("list")
def list_runs(
    repo: RepoOption = Path(),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> int:
    """List the runs recorded for a project, oldest first."""
    store = _store(repo)
    records = [store.load(run_id) for run_id in store.ids()]
    if as_json:
        print_json([summary(r, store.path(r.id)) for r in records])
        return 0
    table = Table("run", "status", "stop", "attempts", "tokens", "wall s", "task")
    for r in records:
        what = r.task.description or ", ".join(r.targets)
        table.add_row(
            r.id,
            r.status,
            r.stop_reason,
            str(len(r.attempts)),
            f"{r.usage.total:,}",
            f"{r.wall_s:.1f}",
            what[:50],
        )
    Console().print(table)
    return 0


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="Run id or a unique prefix.")],
    repo: RepoOption = Path(),
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole record.")] = False,
) -> int:
    """Show one run: its summary, attempts and diff."""
    store = _store(repo)
    record = store.load(run_id)
    if as_json:
        print(record.model_dump_json(indent=2))
        return 0
    console = Console(highlight=False)
    console.print(f"run {record.id}: {record.status} ({record.stop_reason})")
    console.print(f"targets: {', '.join(record.targets) or '-'}")
    console.print(
        f"tokens: {record.usage.prompt_tokens:,} prompt, {record.usage.completion_tokens:,} "
        f"completion, {record.usage.cached_tokens:,} cached; sandbox {record.sandbox_s:.1f}s; "
        f"wall {record.wall_s:.1f}s"
    )
    if record.baseline_reused:
        console.print(f"baseline: reused from a prepared template (run {record.baseline_reused})")
    table = Table("#", "tier", "status", "failing", "tokens", "shared prefix", "label")
    for a in record.attempts:
        table.add_row(
            str(a.index),
            a.tier,
            a.status,
            "-" if a.failing is None else str(a.failing),
            f"{a.usage.total:,}",
            f"{a.prefix_shared_chars:,} ch",
            a.label[:60],
        )
    console.print(table)
    if record.diff:
        console.print("verified diff:" if record.verified else "best attempt (not verified):")
        console.print(record.diff, markup=False)
    console.print(f"record: {store.path(record.id)}")
    return 0


@app.command("replay")
def replay(
    run_id: Annotated[str, typer.Argument(help="Run id or a unique prefix.")],
    repo: RepoOption = Path(),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> int:
    """Re-run a recorded run with its recorded completions; exit 0 when the result matches."""
    from patchloop.replay import replay_run

    store, config = _open(repo)
    with Progress(mode="json" if as_json else "auto") as progress:
        result = replay_run(store, run_id, on_event=progress.on_event, trusted=config)
    if as_json:
        print_json(
            {
                "original": result.original.id,
                "replay": result.replay.id,
                "same": result.same,
                "differences": list(result.differences),
                "status": result.replay.status,
            }
        )
    else:
        verdict = "same result" if result.same else "DIFFERENT result"
        print(f"replay {result.replay.id} of {result.original.id}: {verdict}")
        for line in result.differences:
            print(f"  - {line}")
    return EXIT_VERIFIED if result.same else EXIT_NOT_FIXED
