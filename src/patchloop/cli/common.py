"""Helpers shared by the commands: error printing, exit codes, JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import typer

from patchloop.config import ResolvedConfig, load_config
from patchloop.errors import (
    ModelError,
    NothingToFix,
    PatchloopError,
    SandboxError,
    UsageError,
)
from patchloop.repo.snapshot import Located, locate

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_NOTHING",
    "EXIT_NOT_FIXED",
    "EXIT_USAGE",
    "EXIT_VERIFIED",
    "exit_code_for",
    "print_error",
    "print_json",
    "resolve",
    "run_app",
]

EXIT_VERIFIED = 0
EXIT_NOT_FIXED = 1
EXIT_USAGE = 2
EXIT_NOTHING = 3
EXIT_INTERRUPTED = 130


def exit_code_for(exc: PatchloopError) -> int:
    """Exit status for an error that ended a command."""
    if isinstance(exc, NothingToFix):
        return EXIT_NOTHING
    if isinstance(exc, UsageError | SandboxError | ModelError):
        return EXIT_USAGE
    return EXIT_NOT_FIXED


def print_error(exc: PatchloopError) -> None:
    """One line saying what went wrong, and a second saying what to do."""
    print(f"patchloop: error: {exc.message}", file=sys.stderr)
    if exc.hint:
        print(f"patchloop: hint: {exc.hint}", file=sys.stderr)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout."""
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def resolve(
    repo: Path, config_file: Path | None, cli: dict[str, Any]
) -> tuple[Located, ResolvedConfig]:
    """Locate the project and resolve its configuration."""
    where = locate(repo)
    return where, load_config(
        where.project, git_root=where.git_root, config_file=config_file, cli=cli
    )


def run_app(app: typer.Typer, argv: Sequence[str] | None) -> NoReturn:
    """Run a Typer app and exit with the status its outcome maps to.

    Parser errors exit 2 with Typer's message; Ctrl-C exits 130; an error of the tree prints
    what went wrong and what to do (and, under ``--json``, an error object on stdout).
    """
    args = list(argv) if argv is not None else sys.argv[1:]
    try:
        result = app(args=args, standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            print(f"patchloop: error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except (typer.Abort, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except PatchloopError as exc:
        print_error(exc)
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
