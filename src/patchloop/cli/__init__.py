"""The ``patchloop`` command line: a thin Typer app over the library."""

from __future__ import annotations

from collections.abc import Sequence

import typer

from patchloop.cli.common import run_app

__all__ = ["app", "main"]

app = typer.Typer(
    name="patchloop",
    help="Turn a red test suite green: localize, edit, verify in a sandbox, repeat.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from patchloop.cli import (
        config_cmd,
        eval_cmd,
        fix,
        index_cmd,
        localize_cmd,
        models_cmd,
        route_cmd,
        runs,
        serve_cmd,
    )

    app.command("fix")(fix.fix)
    app.command("localize")(localize_cmd.localize)
    app.command("eval")(eval_cmd.eval_suite)
    app.command("search")(index_cmd.search)
    app.add_typer(index_cmd.app, name="index")
    app.add_typer(route_cmd.app, name="route")
    app.add_typer(runs.app, name="runs")
    app.add_typer(models_cmd.app, name="models")
    app.add_typer(config_cmd.app, name="config")
    app.add_typer(serve_cmd.app, name="serve")
    app.command("submit")(serve_cmd.submit)


_register()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the console script; maps errors to exit codes in one place."""
    run_app(app, argv)
