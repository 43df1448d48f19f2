"""Turning a task's ``files`` into a directory, and into a git repository with one commit."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from patchloop.errors import InfrastructureError, RepositoryError
from patchloop.repo.git import git_bytes

__all__ = ["GIT_ENV", "init_repo", "write_files"]

#: A fixed identity and no user or system configuration: commits are the same everywhere.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "patchloop-eval",
    "GIT_AUTHOR_EMAIL": "eval@patchloop.invalid",
    "GIT_COMMITTER_NAME": "patchloop-eval",
    "GIT_COMMITTER_EMAIL": "eval@patchloop.invalid",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def write_files(files: Mapping[str, str], root: Path) -> None:
    """Write ``files`` (relative POSIX path to text) under ``root``, byte-exact."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        target = root.joinpath(*PurePosixPath(rel).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", encoding="utf-8", newline="") as fh:
            fh.write(text)


def init_repo(files: Mapping[str, str], root: Path) -> Path:
    """A git repository at ``root`` holding ``files`` in a single commit."""
    write_files(files, root)
    env = {**os.environ, **GIT_ENV, "GIT_CEILING_DIRECTORIES": str(root.parent)}
    try:
        git_bytes(["init", "-q", "-b", "main"], root, env=env)
        git_bytes(["add", "-A"], root, env=env)
        git_bytes(
            ["-c", "commit.gpgsign=false", "commit", "-q", "--no-verify", "-m", "base"],
            root,
            env=env,
        )
    except RepositoryError as exc:
        raise InfrastructureError(
            f"cannot create the task repository: {exc.message}",
            hint="check that git is installed and the temp directory is writable",
        ) from exc
    return root
