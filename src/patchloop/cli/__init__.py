"""The ``patchloop`` command line: a thin Typer app over the library."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from patchloop.cli.common import exit_code_for, print_error, print_json
from patchloop.errors import PatchloopError

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


_register()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the console script; maps errors to exit codes in one place."""
    try:
        result = app(args=list(argv) if argv is not None else None, standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:
        # Parser errors (bad option, bad value): Typer's own message, then the usage status.
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            print(f"patchloop: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except PatchloopError as exc:
        print_error(exc)
        args = list(argv) if argv is not None else sys.argv[1:]
        if "--json" in args:
            # Machines reading stdout get an answer too, not only the exit status.
            print_json(
                {
                    "status": "error",
                    "error": exc.message,
                    "hint": exc.hint,
                    "kind": type(exc).__name__,
                    "exit_code": exit_code_for(exc),
                }
            )
        sys.exit(exit_code_for(exc))
    sys.exit(result if isinstance(result, int) else 0)
