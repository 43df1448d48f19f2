"""Thin, typed access to the git command line; failures become ``RepositoryError``.

Every call has a time limit (:data:`GIT_TIMEOUT_S` unless told otherwise): a repository on a
hung network file system, a held lock or a prompt for credentials ends in an error that says
so, never in a run that waits forever. Prompts are switched off.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from patchloop.errors import RepositoryError

__all__ = ["GIT_TIMEOUT_S", "git", "git_bytes", "git_ok", "run_git"]

#: Seconds one git command may take.
GIT_TIMEOUT_S = 300.0
#: Never wait for a person to type a password or accept a host key.
_NO_PROMPTS = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}


def run_git(
    args: Sequence[str],
    cwd: Path | None,
    *,
    env: Mapping[str, str],
    timeout: float,
    input: bytes | None = None,
) -> subprocess.CompletedProcess[bytes] | None:
    """Run ``git ARGS`` in ``cwd`` with exactly ``env``; ``None`` when it ran past ``timeout``
    seconds, in which case it was killed with every process it started.

    The command gets a process group of its own: a child left behind (ssh, a credential
    helper, a hook) would hold the output pipes open, and the wait would never end.
    """
    try:
        proc = subprocess.Popen(
            ["git", *args],
            cwd=cwd,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise RepositoryError("git is not installed", hint="install git and retry") from exc
    except NotADirectoryError as exc:
        raise RepositoryError(f"{cwd} is not a directory") from exc
    try:
        stdout, stderr = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def git_bytes(
    args: Sequence[str],
    cwd: Path,
    *,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = GIT_TIMEOUT_S,
) -> bytes:
    """Run ``git ARGS`` in ``cwd`` and return stdout; raise ``RepositoryError`` on failure,
    including a command that runs longer than ``timeout`` seconds (it is killed)."""
    base = os.environ if env is None else env
    proc = run_git(args, cwd, env={**base, **_NO_PROMPTS}, timeout=timeout, input=input)
    if proc is None:
        raise RepositoryError(
            f"git {' '.join(args[:2])} did not finish within {timeout:g}s in {cwd}",
            hint="check the repository (a lock held by another git, a slow file system)",
        )
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        first = message[-1] if message else f"exit status {proc.returncode}"
        raise RepositoryError(f"git {' '.join(args[:2])} failed in {cwd}: {first}")
    return proc.stdout


def git(
    args: Sequence[str],
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = GIT_TIMEOUT_S,
) -> str:
    """Run ``git ARGS`` and return stdout as text without the trailing newline."""
    return git_bytes(args, cwd, env=env, timeout=timeout).decode("utf-8", "replace").rstrip("\n")


def git_ok(args: Sequence[str], cwd: Path, *, timeout: float = GIT_TIMEOUT_S) -> bool:
    """Whether ``git ARGS`` succeeds (for probes such as ``rev-parse --verify``)."""
    try:
        git_bytes(args, cwd, timeout=timeout)
    except RepositoryError:
        return False
    return True
