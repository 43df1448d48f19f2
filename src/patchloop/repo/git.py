"""Thin, typed access to the git command line; failures become ``RepositoryError``."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from patchloop.errors import RepositoryError

__all__ = ["git", "git_bytes", "git_ok"]


def git_bytes(
    args: Sequence[str],
    cwd: Path,
    *,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
) -> bytes:
    """Run ``git ARGS`` in ``cwd`` and return stdout; raise ``RepositoryError`` on failure."""
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            input=input,
            capture_output=True,
            env=None if env is None else dict(env),
            check=False,
        )
    except FileNotFoundError as exc:
        raise RepositoryError("git is not installed", hint="install git and retry") from exc
    except NotADirectoryError as exc:
        raise RepositoryError(f"{cwd} is not a directory") from exc
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        first = message[-1] if message else f"exit status {proc.returncode}"
        raise RepositoryError(f"git {' '.join(args[:2])} failed in {cwd}: {first}")
    return proc.stdout


def git(args: Sequence[str], cwd: Path, *, env: Mapping[str, str] | None = None) -> str:
    """Run ``git ARGS`` and return stdout as text without the trailing newline."""
    return git_bytes(args, cwd, env=env).decode("utf-8", "replace").rstrip("\n")


def git_ok(args: Sequence[str], cwd: Path) -> bool:
    """Whether ``git ARGS`` succeeds (for probes such as ``rev-parse --verify``)."""
    try:
        git_bytes(args, cwd)
    except RepositoryError:
        return False
    return True
