"""What the job runners share: configuration as the service resolves it, the test command."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from patchloop.config import Config, load_config
from patchloop.domain import Event
from patchloop.errors import UsageError

__all__ = ["EventSink", "argv_of", "config_for"]

EventSink = Callable[[Event], None]


def config_for(project: Path, git_root: Path, cli: dict[str, Any]) -> Config:
    """The configuration of a job: the repository's own config counts only for repair knobs."""
    return load_config(project, git_root=git_root, cli=cli).config


def argv_of(cmd: str) -> tuple[str, ...]:
    """The test command as argv."""
    try:
        argv = tuple(shlex.split(cmd))
    except ValueError as exc:
        raise UsageError(f"cannot parse the test command {cmd!r}: {exc}") from exc
    if not argv:
        raise UsageError("the test command is empty")
    return argv
