"""Snapshots of a project directory: the exact files the loop works on.

A snapshot is every file git would consider part of the work tree below the project directory:
tracked files as they are on disk (uncommitted changes included) plus untracked files that are
not ignored. A git repository nested inside (a vendored checkout with its own ``.git``, a
submodule) contributes its files the same way, by its own rules; one that cannot be listed is
named in a warning. The snapshot is copied once into a read-only template; every verification
works on a fresh copy of that template, never on the user's tree.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from patchloop.domain import SnapshotInfo
from patchloop.errors import RepositoryError
from patchloop.repo.git import git, git_bytes
from patchloop.sandbox import owned_temp_dir

__all__ = ["Located", "Snapshot", "list_files", "locate", "restore_snapshot", "take_snapshot"]

log = logging.getLogger("patchloop.repo")

#: Directory names never copied into a snapshot, whatever git says.
SKIP_DIRS = frozenset({".git", ".patchloop"})


@dataclass(frozen=True)
class Located:
    """A project directory and the git work tree that holds it."""

    project: Path
    git_root: Path

    @property
    def subdir(self) -> str:
        """Project directory relative to the git root, POSIX, "" at the root."""
        rel = self.project.relative_to(self.git_root).as_posix()
        return "" if rel == "." else rel


def locate(path: Path) -> Located:
    """Resolve ``path`` to a project directory inside a git work tree."""
    if not path.exists():
        raise RepositoryError(f"{path} does not exist", hint="pass --repo with an existing path")
    if not path.is_dir():
        raise RepositoryError(f"{path} is not a directory", hint="pass the project directory")
    project = path.resolve()
    try:
        top = git(["rev-parse", "--show-toplevel"], project)
    except RepositoryError as exc:
        raise RepositoryError(
            f"{path} is not inside a git work tree",
            hint="run `git init` there (and commit), or pass --repo pointing into a repository",
        ) from exc
    return Located(project=project, git_root=Path(top).resolve())


def list_files(where: Located, *, quiet: bool = False) -> list[str]:
    """Project-relative POSIX paths of the snapshot: tracked and untracked, not ignored,
    nested repositories' files included. A nested repository left out is a warning, unless
    ``quiet`` (a second listing of a project whose snapshot already said so)."""
    level = logging.INFO if quiet else logging.WARNING
    return sorted(_git_files(where.git_root, where.subdir, where.project, depth=0, level=level))


#: How deep repositories nested in repositories are followed.
_MAX_NESTING = 8


def _git_files(top: Path, subdir: str, project: Path, *, depth: int, level: int) -> set[str]:
    """Files of the work tree at ``top`` below ``subdir``, relative to ``project``."""
    spec = [subdir] if subdir else []
    out = git_bytes(
        ["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *spec], top
    )
    prefix = f"{subdir}/" if subdir else ""
    files: set[str] = set()
    for raw in out.split(b"\0"):
        if not raw:
            continue
        rel = raw.decode("utf-8", "surrogateescape")
        if prefix and not rel.startswith(prefix):
            continue
        rel = rel[len(prefix) :].rstrip("/")
        if not rel or set(rel.split("/")) & SKIP_DIRS:
            continue
        full = project / rel
        if full.is_symlink() or full.is_file():
            files.add(rel)
        elif full.is_dir() and (full / ".git").exists():
            files |= {f"{rel}/{f}" for f in _nested_files(full, rel, depth=depth + 1, level=level)}
        elif full.is_dir():
            log.log(
                level,
                "%s is a submodule that is not checked out: left out of the snapshot "
                "(git submodule update --init fetches it)",
                rel,
            )
    return files


def _nested_files(directory: Path, rel: str, *, depth: int, level: int) -> set[str]:
    """The files of a repository nested at ``rel`` (untracked there, or a submodule)."""
    why = ""
    if depth > _MAX_NESTING:
        why = f"repositories nested more than {_MAX_NESTING} deep are not followed"
    else:
        try:
            found = _git_files(directory, "", directory, depth=depth, level=level)
        except RepositoryError as exc:
            why = exc.message
        else:
            if found:
                log.info("%s is a git repository of its own: %d files included", rel, len(found))
                return found
            why = "it holds no files (an uninitialized submodule?)"
    log.log(
        level,
        "%s is a git repository of its own and is left out of the snapshot (%s): tests that "
        "need its files will fail",
        rel,
        why,
    )
    return set()


def _digest_file(path: Path) -> bytes:
    if path.is_symlink():
        return b"link:" + os.readlink(path).encode("utf-8", "surrogateescape")
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            h.update(block)
    mode = b"x" if os.access(path, os.X_OK) else b"-"
    return mode + h.digest()


def fingerprint(root: Path, files: list[str]) -> str:
    """Hash over paths, modes and contents of ``files`` under ``root``."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(rel.encode("utf-8", "surrogateescape") + b"\0")
        h.update(_digest_file(root / rel) + b"\0")
    return h.hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """A materialized snapshot: ``template`` holds a private copy of ``files``."""

    info: SnapshotInfo
    template: Path
    files: tuple[str, ...]

    def read(self, rel: str) -> str | None:
        """Text of a snapshot file, ``None`` when absent or not UTF-8."""
        try:
            return (self.template / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def remove(self) -> None:
        """Delete the template copy."""
        shutil.rmtree(self.template.parent, ignore_errors=True)


def _copy_into(src_root: Path, files: list[str], dest: Path) -> None:
    for rel in files:
        src = src_root / rel
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), target)
        else:
            shutil.copy2(src, target)


def _dirty_count(where: Located) -> int:
    spec = [where.subdir] if where.subdir else []
    out = git_bytes(
        ["status", "--porcelain", "-z", "--untracked-files=all", "--", *spec], where.git_root
    )
    return sum(1 for entry in out.split(b"\0") if len(entry) > 3 and entry[2:3] == b" ")


def _head(where: Located) -> str | None:
    try:
        return git(["rev-parse", "-q", "--verify", "HEAD^{commit}"], where.git_root) or None
    except RepositoryError:
        return None


def take_snapshot(where: Located) -> Snapshot:
    """Copy the project's current files into a fresh private template directory."""
    files = list_files(where)
    if not files:
        raise RepositoryError(
            f"{where.project} holds no files git can see", hint="add the project's files"
        )
    base = owned_temp_dir("snap")
    template = base / "tree"
    template.mkdir()
    try:
        _copy_into(where.project, files, template)
    except OSError as exc:
        shutil.rmtree(base, ignore_errors=True)
        raise RepositoryError(f"cannot copy the project: {exc}") from exc
    info = SnapshotInfo(
        root=str(where.project),
        git_root=str(where.git_root),
        subdir=where.subdir,
        head=_head(where),
        fingerprint=fingerprint(template, files),
        files=len(files),
        dirty=_dirty_count(where),
    )
    return Snapshot(info=info, template=template, files=tuple(files))


def current_fingerprint(where: Located) -> str:
    """Fingerprint of the project as it is on disk now (what the snapshot left out was
    already named when it was taken)."""
    return fingerprint(where.project, list_files(where, quiet=True))


# ----------------------------------------------------------------------- replay storage


def save_snapshot(snapshot: Snapshot, dest: Path) -> None:
    """Store the snapshot compactly under ``dest`` so that replay can rebuild it.

    Files identical to HEAD are referenced by the commit; the rest go into ``files.tar.gz``.
    """
    dest.mkdir(parents=True, exist_ok=True)
    at_head = _files_at_head(snapshot)
    with tarfile.open(dest / "files.tar.gz", "w:gz") as tar:
        for rel in snapshot.files:
            if rel not in at_head:
                tar.add(snapshot.template / rel, arcname=rel, recursive=False)
    (dest / "manifest.txt").write_text("\n".join(snapshot.files) + "\n", encoding="utf-8")


def _files_at_head(snapshot: Snapshot) -> set[str]:
    info = snapshot.info
    if info.head is None:
        return set()
    tree = f"{info.head}:{info.subdir}" if info.subdir else info.head
    try:
        out = git_bytes(["ls-tree", "-r", "-z", tree], Path(info.git_root))
    except RepositoryError:
        return set()
    same: set[str] = set()
    for entry in out.split(b"\0"):
        if not entry:
            continue
        meta, _, raw_path = entry.partition(b"\t")
        mode, kind, blob = meta.decode().split()
        rel = raw_path.decode("utf-8", "surrogateescape")
        full = snapshot.template / rel
        if kind != "blob" or rel not in snapshot.files or full.is_symlink():
            continue
        if full.is_file() and _blob_id(full) == blob:
            executable = bool(full.stat().st_mode & stat.S_IXUSR)
            if executable == (mode == "100755"):
                same.add(rel)
    return same


def _blob_id(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def restore_snapshot(info: SnapshotInfo, stored: Path, dest: Path) -> list[str]:
    """Rebuild a saved snapshot into ``dest`` and check its fingerprint; return its files."""
    files = [f for f in (stored / "manifest.txt").read_text(encoding="utf-8").splitlines() if f]
    dest.mkdir(parents=True, exist_ok=True)
    if info.head is not None:
        tree = f"{info.head}:{info.subdir}" if info.subdir else info.head
        archive = git_bytes(["archive", "--format=tar", tree], Path(info.git_root))
        with tempfile.TemporaryFile() as fh:
            fh.write(archive)
            fh.seek(0)
            with tarfile.open(fileobj=fh, mode="r:") as tar:
                tar.extractall(dest, filter="tar")
    with tarfile.open(stored / "files.tar.gz", "r:gz") as tar:
        tar.extractall(dest, filter="tar")
    wanted = set(files)
    for path in sorted(dest.rglob("*"), reverse=True):
        rel = path.relative_to(dest).as_posix()
        if (path.is_file() or path.is_symlink()) and rel not in wanted:
            path.unlink()
    if fingerprint(dest, files) != info.fingerprint:
        raise RepositoryError(
            "the recorded snapshot cannot be rebuilt exactly",
            hint=f"commit {info.head} may be gone from {info.git_root}",
        )
    return files
