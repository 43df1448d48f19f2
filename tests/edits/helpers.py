"""Shared helpers for the edits tests: real git repositories and file snapshots."""

from __future__ import annotations

import subprocess
from pathlib import Path

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "HOME": "/nonexistent",
    "PATH": "/usr/bin:/bin:/usr/local/bin",
}


def git(root: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run git in ``root`` with no user or system configuration."""
    return subprocess.run(
        ["git", "-c", "core.autocrlf=false", *args],
        cwd=root,
        input=stdin,
        capture_output=True,
        env=GIT_ENV,
        check=False,
    )


def init_repo(root: Path) -> Path:
    """A git work tree at ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    assert git(root, "init", "-q").returncode == 0
    return root


def commit_all(root: Path) -> None:
    """Commit everything in ``root``."""
    assert git(root, "add", "-A").returncode == 0
    done = git(
        root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "base"
    )
    assert done.returncode == 0, done.stderr


def git_apply_check(root: Path, diff: str) -> subprocess.CompletedProcess[bytes]:
    """``git apply --check`` of ``diff`` against the work tree at ``root``."""
    return git(root, "apply", "--check", "-", stdin=diff.encode("utf-8"))


def write(root: Path, rel: str, content: str | bytes) -> Path:
    """Write ``content`` (bytes as given, text as UTF-8 without newline translation)."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` outside ``.git``, path to bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink() and ".git" not in p.relative_to(root).parts
    }
