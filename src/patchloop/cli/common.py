"""Helpers shared by the commands: error printing, exit codes, JSON output."""

from __future__ import annotations

import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn

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
from patchloop.store.redact import scrub, scrub_urls

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_NOTHING",
    "EXIT_NOT_FIXED",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "EXIT_VERIFIED",
    "SamplingOption",
    "error_object",
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
EXIT_TERMINATED = 143

#: ``--sampling`` of ``fix`` and ``eval``.
SamplingOption = Annotated[
    str | None,
    typer.Option(
        help="Where samples after the first come from: branches of the first reply at its "
        "least certain tokens (embedded models), or temperature."
    ),
]


def exit_code_for(exc: PatchloopError) -> int:
    """Exit status for an error that ended a command."""
    if isinstance(exc, NothingToFix):
        return EXIT_NOTHING
    if isinstance(exc, UsageError | SandboxError | ModelError):
        return EXIT_USAGE
    return EXIT_NOT_FIXED


def print_error(exc: PatchloopError) -> None:
    """One line saying what went wrong, and a second saying what to do."""
    print(f"patchloop: error: {scrub_urls(exc.message)}", file=sys.stderr)
    if exc.hint:
        print(f"patchloop: hint: {scrub_urls(exc.hint)}", file=sys.stderr)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout (strict JSON: no ``NaN`` or ``Infinity``), with the
    credentials of configured model URLs masked."""
    print(scrub(json.dumps(data, indent=2, sort_keys=True, default=str, allow_nan=False)))


def error_object(message: str, hint: str | None, kind: str, exit_code: int) -> dict[str, Any]:
    """What ``--json`` prints on stdout when a command ends in an error."""
    return {
        "status": "error",
        "error": scrub_urls(message),
        "hint": scrub_urls(hint) if hint else hint,
        "kind": kind,
        "exit_code": exit_code,
    }


class _StderrLog(logging.Handler):
    """Warnings of the library on stderr, as ``patchloop: warning: ...``, credentials masked.

    Writes to ``sys.stderr`` as it is at the time of the record, not at installation.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = scrub_urls(record.getMessage())
            print(f"patchloop: {record.levelname.lower()}: {text}", file=sys.stderr, flush=True)
        except Exception:  # logging must never end a command
            self.handleError(record)


def _install_log_handler() -> None:
    logger = logging.getLogger("patchloop")
    if not any(isinstance(h, _StderrLog) for h in logger.handlers):
        handler = _StderrLog(level=logging.WARNING)
        logger.addHandler(handler)


class _Signals:
    """Ctrl-C and SIGTERM both end a command as ``KeyboardInterrupt``: the run's record is
    finished and scratch space removed. Which one came decides the exit status."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # A second signal must not interrupt the clean-up the first one started.
        for sig in self._previous:
            signal.signal(sig, signal.SIG_IGN)
        self.received = signum
        raise KeyboardInterrupt

    def __enter__(self) -> _Signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._on_signal)
            except ValueError:  # not the main thread: nothing to install
                break
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)

    def interrupted(self, *, as_json: bool) -> NoReturn:
        """Say how the command was stopped and exit with the matching status."""
        term = self.received == signal.SIGTERM
        code = EXIT_TERMINATED if term else EXIT_INTERRUPTED
        what = "terminated (SIGTERM)" if term else "interrupted"
        print(f"patchloop: {what}", file=sys.stderr)
        if as_json:
            print_json(error_object(what, None, "Interrupted", code))
        sys.exit(code)


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

    Parser errors exit 2 with Typer's message; Ctrl-C exits 130 and SIGTERM 143, both after the
    clean-up Ctrl-C gets; an error of the tree prints what went wrong and what to do. Under
    ``--json`` every one of these also prints an error object on stdout.
    """
    args = list(argv) if argv is not None else sys.argv[1:]
    as_json = "--json" in args
    _install_log_handler()
    with _Signals() as signals:
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
            if as_json:
                fmt = getattr(exc, "format_message", None)
                message = str(fmt()) if callable(fmt) else str(exc)
                print_json(error_object(message, None, type(exc).__name__, EXIT_USAGE))
            sys.exit(EXIT_USAGE)
        except (typer.Abort, KeyboardInterrupt):
            signals.interrupted(as_json=as_json)
        except PatchloopError as exc:
            print_error(exc)
            if as_json:
                # Machines reading stdout get an answer too, not only the exit status.
                print_json(
                    error_object(exc.message, exc.hint, type(exc).__name__, exit_code_for(exc))
                )
            sys.exit(exit_code_for(exc))
        if signals.received is not None:
            # Typer turns the KeyboardInterrupt into a plain exit status of 130.
            signals.interrupted(as_json=as_json)
    sys.exit(result if isinstance(result, int) else 0)
