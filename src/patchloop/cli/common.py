"""Helpers shared by the commands: error printing, exit codes, JSON output."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

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
    "EXIT_NOTHING",
    "EXIT_NOT_FIXED",
    "EXIT_USAGE",
    "EXIT_VERIFIED",
    "exit_code_for",
    "print_error",
    "print_json",
    "resolve",
]

EXIT_VERIFIED = 0
EXIT_NOT_FIXED = 1
EXIT_USAGE = 2
EXIT_NOTHING = 3


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
