"""Every git command has a time limit; the processes it started go with it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from patchloop.errors import RepositoryError
from patchloop.repo.git import git, git_bytes


def test_a_git_command_past_its_time_limit_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "git"
    # Like a git stuck on a lock or a dead network mount, with a child holding the pipes.
    fake.write_text("#!/bin/sh\nsleep 600 &\nsleep 600\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(RepositoryError, match=r"git status did not finish within 0\.5s"):
        git_bytes(["status"], tmp_path, timeout=0.5)


def test_git_never_prompts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "1")
    env_dump = git(["-c", "alias.e=!env", "e"], tmp_path)
    assert "GIT_TERMINAL_PROMPT=0" in env_dump.splitlines()
