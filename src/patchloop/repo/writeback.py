"""Writing a verified patch back: into the work tree (``--apply``) or onto a branch.

Files are compared and written as their bytes hold them: line endings (CRLF, mixed, no final
newline) and declared source encodings (PEP 263) are kept end to end (see
:mod:`patchloop.repo.text`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from patchloop.domain import Patch, SnapshotInfo
from patchloop.errors import EditError, RepositoryError
from patchloop.repo.git import git, git_bytes, git_ok
from patchloop.repo.snapshot import Located, current_fingerprint
from patchloop.repo.text import SourceEncodingError, decode_source, encode_source, read_source

__all__ = [
    "apply_to_tree",
    "check_branch",
    "commit_to_branch",
    "git_parent",
    "head_commit",
    "patch_from_diff",
    "tree_unchanged",
]


def _unchanged_since(where: Located, info: SnapshotInfo) -> None:
    if current_fingerprint(where) != info.fingerprint:
        raise RepositoryError(
            "the working tree changed since the run took its snapshot; nothing was written",
            hint="re-run patchloop fix, or apply the diff by hand with `git apply`",
        )


#: What an unreadable file compares as: never equal to the text of a patch.
_UNREADABLE = "\0unreadable"


def _current(target: Path) -> str | None:
    if not target.exists():
        return None
    try:
        return read_source(target)
    except (OSError, SourceEncodingError):
        return _UNREADABLE


def _encoded(path: str, text: str) -> bytes:
    try:
        return encode_source(path, text)
    except SourceEncodingError as exc:
        raise RepositoryError(f"cannot write {path}: {exc}; nothing written") from exc


def apply_to_tree(where: Located, info: SnapshotInfo, patch: Patch) -> list[str]:
    """Write the patch's files into the project, refusing if the tree changed meanwhile."""
    _unchanged_since(where, info)
    data: dict[str, bytes | None] = {}
    for change in patch.changes:
        if _current(where.project / change.path) != change.before:
            raise RepositoryError(f"{change.path} changed since the snapshot; nothing written")
        data[change.path] = None if change.after is None else _encoded(change.path, change.after)
    written: list[str] = []
    for rel, content in data.items():
        target = where.project / rel
        if content is None:
            target.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        written.append(rel)
    return written


def tree_unchanged(where: Located, info: SnapshotInfo) -> bool:
    """Whether the project's files are still exactly those of the snapshot."""
    return current_fingerprint(where) == info.fingerprint


def head_commit(where: Located) -> str | None:
    """The commit HEAD points at now (``None`` in a repository without commits)."""
    try:
        return git(["rev-parse", "-q", "--verify", "HEAD^{commit}"], where.git_root) or None
    except RepositoryError:
        return None


def git_parent(where: Located, commit: str) -> str | None:
    """The first parent of ``commit``."""
    try:
        return git(["rev-parse", "-q", "--verify", f"{commit}^"], where.git_root) or None
    except RepositoryError:
        return None


def patch_from_diff(where: Located, diff: str, *, at: str | None = None) -> Patch:
    """The patch ``diff`` (a recorded, verified diff) makes to the project's files as they are
    in the working tree, or (``at``) in that commit.

    The files the diff touches are copied for the edit engine in the encodings they declare
    (which it reads them in), so that a file declared ``latin-1`` is patched like any other.
    Raises ``RepositoryError`` when the diff does not apply.
    """
    from patchloop.edits import apply_diff, resolve_path
    from patchloop.edits.udiff_parse import parse_unified_diff

    with tempfile.TemporaryDirectory(prefix="patchloop-writeback-") as tmp:
        view = Path(tmp)
        for file in parse_unified_diff(diff, strict=True):
            for path in filter(None, (file.old_path, file.new_path)):
                try:
                    rel, source = resolve_path(where.project, path)
                except EditError:
                    continue  # the edit engine refuses it below, with its reason
                if at is not None:
                    text = _head_text(where, at, _git_path(where, rel))
                else:
                    text = _current(source) if source.is_file() else None
                if text is None or text == _UNREADABLE:
                    continue
                target = view / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(encode_source(rel, text))
        try:
            return apply_diff(view, diff, dry_run=True)
        except EditError as exc:
            where_to = f"commit {at[:12]}" if at else "the working tree"
            raise RepositoryError(
                f"the verified diff does not apply to {where_to}: {exc.message}; nothing written",
                hint="apply the diff by hand (git apply), or re-run patchloop fix",
            ) from exc


def _git_path(where: Located, rel: str) -> str:
    return f"{where.subdir}/{rel}" if where.subdir else rel


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
    must equal their version in the snapshot's HEAD (otherwise the commit would carry unrelated
    uncommitted work). When HEAD moved during the run, the change is rebased onto the new HEAD
    if it applies there cleanly, else refused.
    """
    if info.head is None:
        raise RepositoryError("the repository has no commits", hint="commit once, or use --apply")
    check_branch(where, branch)
    for change in patch.changes:
        if _head_text(where, info.head, _git_path(where, change.path)) != change.before:
            raise RepositoryError(
                f"{change.path} has uncommitted changes; the branch would include them",
                hint="commit or stash them first, or use --apply",
            )
    head = head_commit(where) or info.head
    if head != info.head:
        try:
            patch = patch_from_diff(where, patch.diff, at=head)
        except RepositoryError as exc:
            raise RepositoryError(
                f"HEAD moved from {info.head[:12]} to {head[:12]} during the run and the "
                "verified change does not apply to it cleanly; nothing committed",
                hint="the verified diff is printed: apply it by hand (git apply), or re-run "
                "patchloop fix on the new HEAD",
            ) from exc
    with tempfile.TemporaryDirectory(prefix="patchloop-index-") as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git(["read-tree", head], where.git_root, env=env)
        for change in patch.changes:
            path = _git_path(where, change.path)
            if change.after is None:
                git(["update-index", "--remove", "--", path], where.git_root, env=env)
                continue
            blob = (
                git_bytes(
                    ["hash-object", "-w", "--stdin"],
                    where.git_root,
                    input=_encoded(change.path, change.after),
                )
                .decode()
                .strip()
            )
            mode = _head_mode(where, head, path) or "100644"
            git(
                ["update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}"],
                where.git_root,
                env=env,
            )
        tree = git(["write-tree"], where.git_root, env=env)
    commit = git(
        ["commit-tree", tree, "-p", head, "-m", message], where.git_root, env=_identity(where)
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
        return decode_source(path, git_bytes(["show", f"{head}:{path}"], where.git_root))
    except (RepositoryError, SourceEncodingError):
        return None


def _head_mode(where: Located, head: str, path: str) -> str | None:
    out = git(["ls-tree", head, "--", path], where.git_root)
    return out.split()[0] if out else None
