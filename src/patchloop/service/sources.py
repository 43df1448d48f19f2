"""Where a job's repository comes from: checked when a request arrives, checked out by a worker.

A path must lie inside one of the server's allowed roots (after symlinks are resolved). A git
URL must use an allowed scheme, carry no credentials, and answer ``git ls-remote`` within the
time limit; ``file://`` URLs are held to the allowed roots like paths. git itself is told to
use no other transport, never to prompt, and to run no hooks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from patchloop.errors import RepositoryError
from patchloop.repo.git import run_git
from patchloop.repo.snapshot import locate
from patchloop.service.jobs import RepoSource

__all__ = ["check_source", "checkout", "current_commit", "under_roots"]

_SHA = re.compile(r"^[0-9a-f]{7,40}$")
_SCP = re.compile(r"^[\w.-]+@[\w.-]+:")


def under_roots(path: Path, roots: Sequence[Path]) -> bool:
    """Whether the resolved ``path`` is one of ``roots`` or below one."""
    resolved = path.resolve()
    return any(resolved.is_relative_to(root.resolve()) for root in roots)


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true", SSH_ASKPASS="true")
    return env


def _git_argv(schemes: Sequence[str], *args: str) -> list[str]:
    argv = ["git", "-c", "protocol.allow=never", "-c", "core.hooksPath=/dev/null"]
    for scheme in schemes:
        argv += ["-c", f"protocol.{scheme}.allow=always"]
    return [*argv, *args]


def _run_git(argv: list[str], *, timeout: float, cwd: Path | None = None) -> str:
    # Past the time limit git is killed with what it started (ssh, a remote helper).
    proc = run_git(argv[1:], cwd, env=_git_env(), timeout=timeout)
    if proc is None:
        raise RepositoryError(
            f"git did not answer within {timeout:g}s", hint="check the URL and the network"
        )
    if proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RepositoryError(lines[-1] if lines else f"git exited with {proc.returncode}")
    return proc.stdout.decode("utf-8", "replace")


def _check_path(raw: str, roots: Sequence[Path], what: str) -> Path:
    path = Path(raw)
    if not path.is_absolute():
        raise RepositoryError(
            f"{what} {raw!r} is not an absolute path", hint="send the full path on the server"
        )
    if not roots:
        raise RepositoryError(
            "this server accepts no repository paths (no allowed_roots configured)",
            hint="send a git URL, or ask the operator to add an allowed root",
        )
    if not under_roots(path, roots):
        allowed = ", ".join(str(r) for r in roots)
        raise RepositoryError(
            f"{what} {raw} is outside the directories this server may read",
            hint=f"use a repository under {allowed}",
        )
    return path.resolve()


def check_source(
    path: str | None,
    url: str | None,
    ref: str | None,
    *,
    roots: Sequence[Path],
    schemes: Sequence[str],
    timeout: float,
) -> RepoSource:
    """Validate a request's repository and return it normalized; ``RepositoryError`` says what
    to fix."""
    if (path is None) == (url is None):
        raise RepositoryError(
            "name the repository by exactly one of 'path' or 'url'",
            hint='e.g. {"repository": {"path": "/srv/repos/app"}}',
        )
    if ref is not None and (not ref.strip() or ref.startswith("-")):
        raise RepositoryError(f"invalid ref {ref!r}", hint="give a branch, tag or commit")
    if path is not None:
        project = _check_path(path, roots, "repository path")
        located = locate(project)
        if ref is not None:
            try:
                _run_git(
                    ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                    cwd=located.git_root,
                    timeout=timeout,
                )
            except RepositoryError as exc:
                raise RepositoryError(
                    f"ref {ref!r} does not exist in {located.git_root}",
                    hint="give an existing branch, tag or commit, or leave ref out",
                ) from exc
        return RepoSource(path=str(located.project), ref=ref)
    assert url is not None
    return RepoSource(url=_check_url(url, ref, roots, schemes, timeout), ref=ref)


def _check_url(
    url: str, ref: str | None, roots: Sequence[Path], schemes: Sequence[str], timeout: float
) -> str:
    if _SCP.match(url):
        scheme = "ssh"
        parts = None
    else:
        parts = urlsplit(url)
        scheme = parts.scheme
    if scheme not in schemes:
        raise RepositoryError(
            f"git URL scheme {scheme or '(none)'!r} is not accepted here",
            hint=f"use one of: {', '.join(schemes) or '(none: paths only)'}",
        )
    if parts is not None and (parts.password or (parts.username and scheme != "ssh")):
        raise RepositoryError(
            "the git URL carries credentials", hint="send the URL without user:password@"
        )
    if scheme == "file":
        assert parts is not None
        _check_path(parts.path, roots, "file URL path")
    try:
        out = _run_git(
            _git_argv(schemes, "ls-remote", "--", url, *([ref] if ref else ["HEAD"])),
            timeout=timeout,
        )
    except RepositoryError as exc:
        raise RepositoryError(
            f"cannot reach the git repository {url}: {exc.message}",
            hint=exc.hint or "check the URL and that the server can reach it",
        ) from exc
    if ref is not None and not out.strip() and not _SHA.match(ref):
        raise RepositoryError(
            f"ref {ref!r} does not exist in {url}", hint="give an existing branch, tag or commit"
        )
    return url


def checkout(source: RepoSource, dest: Path, *, schemes: Sequence[str], timeout: float) -> Path:
    """The project directory a worker runs on: the path itself (live tree, like the CLI), or a
    clone under ``dest`` at the requested ref."""
    if source.path is not None and source.ref is None:
        return Path(source.path)
    repo = dest / "repo"
    if source.path is not None:
        located = locate(Path(source.path))
        origin, subdir = str(located.git_root), located.subdir
        argv = ["git", "clone", "--quiet", "--no-checkout", "--", origin, str(repo)]
    else:
        assert source.url is not None
        subdir = ""
        argv = _git_argv(schemes, "clone", "--quiet", "--no-checkout", "--", source.url, str(repo))
    _run_git(argv, timeout=timeout)
    commit = _resolve_ref(repo, source.ref or "HEAD", timeout)
    _run_git(
        ["git", "-c", "core.hooksPath=/dev/null", "checkout", "--quiet", "--detach", commit],
        cwd=repo,
        timeout=timeout,
    )
    return repo / subdir if subdir else repo


def _resolve_ref(repo: Path, ref: str, timeout: float) -> str:
    """The commit ``ref`` names in a fresh clone: a local name, a commit, or a remote branch."""
    for candidate in (ref, f"origin/{ref}"):
        try:
            return _run_git(
                ["git", "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"],
                cwd=repo,
                timeout=timeout,
            ).strip()
        except RepositoryError:
            continue
    raise RepositoryError(f"ref {ref!r} not found in the repository")


def current_commit(source: RepoSource, *, schemes: Sequence[str], timeout: float) -> str | None:
    """The commit the source's ref names now; ``None`` for a working tree or when unknown."""
    try:
        if source.path is not None:
            if source.ref is None:
                return None
            root = locate(Path(source.path)).git_root
            out = _run_git(
                ["git", "rev-parse", "--verify", "--quiet", f"{source.ref}^{{commit}}"],
                cwd=root,
                timeout=timeout,
            )
            return out.strip() or None
        assert source.url is not None
        ref = source.ref or "HEAD"
        if _SHA.match(ref):
            return ref
        out = _run_git(_git_argv(schemes, "ls-remote", "--", source.url, ref), timeout=timeout)
    except RepositoryError:
        return None
    first = out.split()
    return first[0] if first else None
