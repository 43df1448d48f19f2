"""The files of a ref or working tree, identified by git blob ids, and their bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from patchloop.errors import RepositoryError
from patchloop.repo.git import GIT_TIMEOUT_S, git, git_bytes

__all__ = [
    "WORKTREE",
    "Snapshot",
    "SourceFile",
    "blob_id",
    "list_files",
    "read_blobs",
    "repo_root",
    "resolve_ref",
]

#: Ref name of a working-tree snapshot (tracked and untracked, not ignored, files on disk).
WORKTREE = "WORKTREE"


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file of a snapshot."""

    path: str
    blob: str
    """Git blob id of the content (computed by us for dirty working-tree files)."""
    size: int
    on_disk: bool = False
    """Read the content from the working tree rather than from the object database."""


@dataclass(frozen=True)
class Snapshot:
    """A resolved ref: its canonical name, commit and files."""

    root: Path
    ref: str
    commit: str | None
    files: list[SourceFile]


def repo_root(path: Path) -> Path:
    """Top level of the git work tree containing ``path``."""
    if not path.exists():
        raise RepositoryError(f"{path} does not exist", hint="pass the path of a git checkout")
    start = path if path.is_dir() else path.parent
    try:
        top = git(["rev-parse", "--show-toplevel"], start)
    except RepositoryError as exc:
        raise RepositoryError(
            f"{path} is not inside a git work tree", hint="run `git init` or pass --repo"
        ) from exc
    return Path(top).resolve()


def resolve_ref(root: Path, ref: str | None) -> tuple[str, str | None]:
    """``(canonical name, commit)``; ``None`` or ``WORKTREE`` means the working tree."""
    if ref is None or ref == WORKTREE:
        try:
            head = git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], root)
        except RepositoryError:
            head = ""
        return WORKTREE, head or None
    if ref.startswith("-"):
        raise RepositoryError(
            f"ref {ref!r} does not exist in {root}", hint="refs cannot start with '-'"
        )
    try:
        commit = git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root)
    except RepositoryError as exc:
        raise RepositoryError(
            f"ref {ref!r} does not exist in {root}",
            hint="name a branch, tag or commit (see `git branch -a`), or omit --ref for the "
            "working tree",
        ) from exc
    try:
        full = git(["rev-parse", "--symbolic-full-name", ref], root)
    except RepositoryError:
        full = ""
    return (full or commit), commit


def list_files(
    root: Path, ref: str, commit: str | None, stat_cache: Mapping[str, tuple[int, int, str]]
) -> tuple[list[SourceFile], dict[str, tuple[int, int, str]]]:
    """Files of ``ref`` and the stat-cache entries that changed (working tree only).

    Committed refs come from ``git ls-tree``. The working tree takes staged blob ids for
    unmodified tracked files and, for modified or untracked ones, the blob id of the bytes on
    disk: reused from ``stat_cache`` (path -> size, mtime_ns, blob) while size and mtime match,
    hashed otherwise.
    """
    if ref != WORKTREE:
        assert commit is not None
        return list(_ls_tree(root, commit)), {}
    staged = {f.path: f for f in _ls_files_staged(root)}
    dirty = set(_z(git_bytes(["ls-files", "-z", "-m", "-d"], root)))
    untracked = _z(git_bytes(["ls-files", "-z", "-o", "--exclude-standard"], root))
    updates: dict[str, tuple[int, int, str]] = {}
    files: list[SourceFile] = []
    for path in sorted({*staged, *untracked}):
        full = root / path
        if path in staged and path not in dirty:
            try:
                size = full.lstat().st_size
            except OSError:
                continue
            files.append(SourceFile(path, staged[path].blob, size))
            continue
        try:
            st = full.lstat()
        except OSError:
            continue  # deleted in the working tree
        if not full.is_file() or full.is_symlink():
            continue
        cached = stat_cache.get(path)
        if cached is not None and cached[:2] == (st.st_size, st.st_mtime_ns):
            blob = cached[2]
        else:
            try:
                blob = blob_id(full.read_bytes())
            except OSError:
                continue
            updates[path] = (st.st_size, st.st_mtime_ns, blob)
        files.append(SourceFile(path, blob, st.st_size, on_disk=True))
    return files, updates


def blob_id(data: bytes) -> str:
    """Git's object id of a blob with content ``data``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _z(raw: bytes) -> list[str]:
    return [p.decode("utf-8", "surrogateescape") for p in raw.split(b"\0") if p]


def _ls_tree(root: Path, commit: str) -> Iterator[SourceFile]:
    raw = git_bytes(["ls-tree", "-r", "-l", "-z", "--full-tree", commit], root)
    for entry in _z(raw):
        meta, _, path = entry.partition("\t")
        mode, kind, blob, size = meta.split()
        if kind != "blob" or mode == "120000" or not size.isdigit():
            # submodules and symlinks hold no code of this repository; a blob whose size git
            # cannot tell is missing from the object store (a partial or trimmed clone)
            continue
        yield SourceFile(path, blob, int(size))


def _ls_files_staged(root: Path) -> Iterator[SourceFile]:
    for entry in _z(git_bytes(["ls-files", "-z", "-s"], root)):
        meta, _, path = entry.partition("\t")
        mode, blob, _stage = meta.split()
        if mode in ("120000", "160000"):
            continue
        yield SourceFile(path, blob, -1)


def read_blobs(
    root: Path, files: Iterable[SourceFile], *, timeout: float = GIT_TIMEOUT_S
) -> Iterator[tuple[SourceFile, bytes]]:
    """Bytes of ``files``: from disk when ``on_disk``, else one ``git cat-file --batch``
    (killed with what it started after ``timeout`` seconds: a ``RepositoryError``)."""
    from_git: list[SourceFile] = []
    for f in files:
        if f.on_disk:
            try:
                yield f, (root / f.path).read_bytes()
            except OSError:
                continue
        else:
            from_git.append(f)
    if not from_git:
        return
    request = "".join(f"{f.blob}\n" for f in from_git).encode()
    try:
        out = git_bytes(["cat-file", "--batch"], root, input=request, timeout=timeout)
    except RepositoryError as exc:
        raise RepositoryError(
            f"cannot read objects of {root}: {exc.message}", hint=exc.hint
        ) from exc
    pos = 0
    for f in from_git:
        eol = out.index(b"\n", pos)
        header = out[pos:eol].split()
        pos = eol + 1
        if len(header) < 3 or header[1] != b"blob":
            continue
        size = int(header[2])
        yield f, out[pos : pos + size]
        pos += size + 1
