"""Writing a verified patch back: into the work tree (``--apply``) or onto a branch."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from patchloop.domain import Patch, SnapshotInfo
from patchloop.errors import RepositoryError
from patchloop.repo.git import git, git_bytes, git_ok
from patchloop.repo.snapshot import Located, current_fingerprint

__all__ = ["apply_to_tree", "commit_to_branch"]


def _unchanged_since(where: Located, info: SnapshotInfo) -> None:
    if current_fingerprint(where) != info.fingerprint:
        raise RepositoryError(
            "the working tree changed since the run took its snapshot; nothing was written",
            hint="re-run patchloop fix, or apply the diff by hand with `git apply`",
        )


def apply_to_tree(where: Located, info: SnapshotInfo, patch: Patch) -> list[str]:
    """Write the patch's files into the project, refusing if the tree changed meanwhile."""
    _unchanged_since(where, info)
    for change in patch.changes:
        target = where.project / change.path
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current != change.before:
            raise RepositoryError(f"{change.path} changed since the snapshot; nothing written")
    written: list[str] = []
    for change in patch.changes:
        target = where.project / change.path
        if change.after is None:
            target.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            # newline="" keeps the patch's line endings byte for byte.
            with target.open("w", encoding="utf-8", newline="") as fh:
                fh.write(change.after)
        written.append(change.path)
    return written


def check_branch(where: Located, branch: str) -> None:
    """Refuse a branch name git rejects or that exists already (checked before a run, too)."""
    if not git_ok(["check-ref-format", "--branch", branch], where.git_root):
        raise RepositoryError(
            f"{branch!r} is not a valid branch name", hint="see git check-ref-format"
        )
    if git_ok(["rev-parse", "-q", "--verify", f"refs/heads/{branch}"], where.git_root):
        raise RepositoryError(f"branch {branch!r} already exists", hint="pick another name")


def commit_to_branch(
    where: Located, info: SnapshotInfo, patch: Patch, branch: str, message: str
) -> str:
    """Commit the patch on top of HEAD as new branch ``branch``; return the commit id.

    The work tree, the index and the current branch are left alone. Files the patch changes
    must equal their HEAD version (otherwise the commit would carry unrelated uncommitted work).
    """
    if info.head is None:
        raise RepositoryError("the repository has no commits", hint="commit once, or use --apply")
    check_branch(where, branch)
    _unchanged_since(where, info)
    prefix = f"{info.subdir}/" if info.subdir else ""
    with tempfile.TemporaryDirectory(prefix="patchloop-index-") as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git(["read-tree", info.head], where.git_root, env=env)
        for change in patch.changes:
            path = prefix + change.path
            head_text = _head_text(where, info.head, path)
            if head_text != change.before:
                raise RepositoryError(
                    f"{change.path} has uncommitted changes; the branch would include them",
                    hint="commit or stash them first, or use --apply",
                )
            if change.after is None:
                git(["update-index", "--remove", "--", path], where.git_root, env=env)
                continue
            blob = (
                git_bytes(
                    ["hash-object", "-w", "--stdin"], where.git_root, input=change.after.encode()
                )
                .decode()
                .strip()
            )
            mode = _head_mode(where, info.head, path) or "100644"
            git(
                ["update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}"],
                where.git_root,
                env=env,
            )
        tree = git(["write-tree"], where.git_root, env=env)
    commit = git(
        ["commit-tree", tree, "-p", info.head, "-m", message], where.git_root, env=_identity(where)
    )
    git(["branch", branch, commit], where.git_root)
    return commit


def _identity(where: Located) -> dict[str, str]:
    """The environment for commit-tree, with a fallback identity when git has none."""
    env = dict(os.environ)
    if not git_ok(["config", "user.email"], where.git_root):
        for role in ("AUTHOR", "COMMITTER"):
            env.setdefault(f"GIT_{role}_NAME", "patchloop")
            env.setdefault(f"GIT_{role}_EMAIL", "patchloop@localhost")
    return env


def _head_text(where: Located, head: str, path: str) -> str | None:
    try:
        return git_bytes(["show", f"{head}:{path}"], where.git_root).decode("utf-8")
    except (RepositoryError, UnicodeDecodeError):
        return None


def _head_mode(where: Located, head: str, path: str) -> str | None:
    out = git(["ls-tree", head, "--", path], where.git_root)
    return out.split()[0] if out else None
