"""``patchloop config show``: the resolved configuration and where each value came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from patchloop.cli.common import print_json, resolve
from patchloop.config import config_items

__all__ = ["app"]

app = typer.Typer(help="Configuration.", no_args_is_help=True)


@app.command("show")
def show(
    repo: Annotated[Path, typer.Option(help="Project directory.")] = Path(),
    config: Annotated[Path | None, typer.Option(help="Config file to use.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> int:
    """Print every setting, its value and its source (default, file, env or cli)."""
    _, resolved = resolve(repo, config, {})
    items = config_items(resolved)
    if as_json:
        print_json({key: {"value": value, "source": source} for key, value, source in items})
        return 0
    table = Table("key", "value", "source")
    for key, value, source in items:
        table.add_row(key, json.dumps(value), source)
    Console().print(table)
    return 0
