"""What each test depends on, from per-test coverage, as a key that changes when those files do.

A Python file is split into its *skeleton* (everything that runs when it is imported: module
and class bodies, ``def`` lines, decorators, default values) and the *bodies* of its outermost
functions and methods. Per-test coverage (lines executed while the test ran) says which bodies a
test executed. A test's key hashes its node id, the skeleton of every Python file, the content
of every other file, the set of paths, and the bodies it executed. Execution is deterministic
given those: a body the test did not execute can only start to run through a change in code it
did execute or in a skeleton, and both change the key. Import-time code is not attributed to
single tests by coverage, which is why every skeleton is part of every key.

Without coverage for a test its key is the hash of the whole tree: any change re-runs it.
Everything here is pure (given the trees' bytes).
"""

from __future__ import annotations

import ast
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from patchloop.domain import FileChange
from patchloop.repo.text import SourceEncodingError, encode_source

__all__ = ["FileDigest", "TestDependencies", "TreeDigest", "digest_file"]

#: Directories never part of a tree's digest (caches and VCS data).
SKIP_DIRS = frozenset({"__pycache__", ".git", ".patchloop", ".pytest_cache", ".mypy_cache"})
_BODY = b"\x00body\x00"


def _sha(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


@dataclass(frozen=True)
class FileDigest:
    """Hashes of one file: whole content, skeleton, and body per outermost function."""

    whole: str
    skeleton: str
    functions: Mapping[str, str] = field(default_factory=dict)
    """Qualified name (``Class.method``; ``#2`` for a repeated name) -> body hash."""
    spans: tuple[tuple[int, int, str], ...] = ()
    """``(first line, last line, qualified name)`` of each function body, 1-based."""

    def function_at(self, line: int) -> str | None:
        """The outermost function whose body holds ``line``."""
        for first, last, name in self.spans:
            if first <= line <= last:
                return name
        return None


class _Bodies(ast.NodeVisitor):
    """Collects the outermost function bodies with qualified names."""

    def __init__(self) -> None:
        self.scope: list[str] = []
        self.found: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []
        self.seen: dict[str, int] = {}

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        name = ".".join([*self.scope, node.name])
        count = self.seen.get(name, 0) + 1
        self.seen[name] = count
        self.found.append((name if count == 1 else f"{name}#{count}", node))
        # Nested functions are part of this body; not visited on their own.

    visit_FunctionDef = _function  # noqa: N815 - ast visitor API
    visit_AsyncFunctionDef = _function  # noqa: N815 - ast visitor API


def digest_file(path: str, data: bytes) -> FileDigest:
    """The digest of ``data`` as the content of ``path`` (Python files get skeleton and bodies)."""
    whole = _sha(data)
    if not path.endswith(".py"):
        return FileDigest(whole=whole, skeleton=whole)
    try:
        tree = ast.parse(data, filename=path)
    except (SyntaxError, ValueError):
        return FileDigest(whole=whole, skeleton=whole)
    starts = [0]
    for line in data.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    collector = _Bodies()
    collector.visit(tree)
    cuts: list[tuple[int, int]] = []
    functions: dict[str, str] = {}
    spans: list[tuple[int, int, str]] = []
    for name, node in collector.found:
        first, last = node.body[0], node.body[-1]
        if last.end_lineno is None or last.end_col_offset is None:
            continue
        begin = starts[first.lineno - 1] + first.col_offset
        end = starts[last.end_lineno - 1] + last.end_col_offset
        functions[name] = _sha(data[begin:end])
        spans.append((first.lineno, last.end_lineno, name))
        cuts.append((begin, end))
    pieces: list[bytes] = []
    pos = 0
    for begin, end in sorted(cuts):
        pieces += [data[pos:begin], _BODY]
        pos = end
    pieces.append(data[pos:])
    return FileDigest(
        whole=whole, skeleton=_sha(b"".join(pieces)), functions=functions, spans=tuple(spans)
    )


class TreeDigest:
    """Digests of every file of a tree (path -> :class:`FileDigest`), with derived hashes."""

    def __init__(self, files: Mapping[str, FileDigest]) -> None:
        self.files = dict(files)
        self._shape: str | None = None
        self._whole: str | None = None

    @classmethod
    def from_dir(cls, root: Path, paths: Iterable[str] | None = None) -> TreeDigest:
        """Digest the files under ``root`` (``paths`` relative to it; default: all but caches)."""
        rels = sorted(paths) if paths is not None else _walk(root)
        files = {}
        for rel in rels:
            full = root / rel
            if full.is_symlink():
                files[rel] = digest_file(rel + "@link", os.readlink(full).encode())
            elif full.is_file():
                files[rel] = digest_file(rel, full.read_bytes())
        return cls(files)

    def with_changes(self, changes: Iterable[FileChange]) -> TreeDigest:
        """This tree after ``changes`` (only the changed files are digested again)."""
        files = dict(self.files)
        for change in changes:
            if change.after is None:
                files.pop(change.path, None)
            else:
                files[change.path] = digest_file(change.path, _bytes(change.path, change.after))
        return TreeDigest(files)

    @property
    def shape(self) -> str:
        """Hash of the paths, every skeleton, and the content of every non-Python file."""
        if self._shape is None:
            self._shape = _sha(
                *(
                    p.encode("utf-8", "surrogateescape") + b"\0" + d.skeleton.encode()
                    for p, d in sorted(self.files.items())
                )
            )
        return self._shape

    @property
    def whole(self) -> str:
        """Hash of every path and content."""
        if self._whole is None:
            self._whole = _sha(
                *(
                    p.encode("utf-8", "surrogateescape") + b"\0" + d.whole.encode()
                    for p, d in sorted(self.files.items())
                )
            )
        return self._whole

    def body(self, path: str, function: str) -> str:
        """The body hash of ``function`` in ``path``, or a marker when it is gone."""
        digest = self.files.get(path)
        if digest is None:
            return "<no file>"
        return digest.functions.get(function, "<no function>")


def _walk(root: Path) -> list[str]:
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        rel = os.path.relpath(dirpath, root)
        for name in filenames:
            found.append(name if rel == "." else f"{rel}/{name}".replace(os.sep, "/"))
    return sorted(found)


class TestDependencies:
    """Per-test dependency keys over trees, from the baseline tree and per-test coverage.

    ``coverage`` maps node id -> repository-relative path -> executed lines (as
    :class:`~patchloop.localize.spectrum.CoverageMap` ``.lines`` holds them); ``None`` or a
    missing node id means "depends on everything".
    """

    __test__ = False

    def __init__(
        self, base: TreeDigest, coverage: Mapping[str, Mapping[str, Sequence[int]]] | None = None
    ) -> None:
        self.base = base
        self._deps: dict[str, tuple[tuple[str, str], ...]] = {}
        for nodeid, files in (coverage or {}).items():
            deps: set[tuple[str, str]] = set()
            for path, lines in files.items():
                digest = base.files.get(path)
                if digest is None:
                    continue
                for line in lines:
                    name = digest.function_at(line)
                    if name is not None:
                        deps.add((path, name))
            self._deps[nodeid] = tuple(sorted(deps))

    def covered(self, nodeid: str) -> bool:
        """Whether the key of ``nodeid`` is finer than the whole tree."""
        return nodeid in self._deps

    def functions(self, nodeid: str) -> tuple[tuple[str, str], ...]:
        """``(path, function)`` pairs ``nodeid`` executed at baseline."""
        return self._deps.get(nodeid, ())

    def key(self, nodeid: str, tree: TreeDigest) -> str:
        """The dependency key of ``nodeid`` in ``tree``."""
        deps = self._deps.get(nodeid)
        if deps is None:
            return _sha(b"tree", nodeid.encode(), tree.whole.encode())
        bodies = [f"{p}\0{f}\0{tree.body(p, f)}".encode() for p, f in deps]
        return _sha(b"deps", nodeid.encode(), tree.shape.encode(), *bodies)

    def affected(self, nodeids: Iterable[str], tree: TreeDigest) -> tuple[str, ...]:
        """Those of ``nodeids`` whose key in ``tree`` differs from their key at baseline."""
        return tuple(n for n in nodeids if self.key(n, tree) != self.key(n, self.base))


def _bytes(path: str, text: str) -> bytes:
    """``text`` as the file will hold it (its declared encoding; UTF-8 when it cannot)."""
    try:
        return encode_source(path, text)
    except SourceEncodingError:
        return text.encode("utf-8", "surrogatepass")
