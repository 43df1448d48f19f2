"""A read-only view of one indexed ref for issue localization: BM25 per chunk and per file,
definitions by name, chunk spans and texts.

Everything comes from the content-addressed store, so a view of a ref costs loading its rows
and two saved BM25 indexes; the definition table is built on first use from the chunk spans
(tree-sitter's qualified names), never by parsing files again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from patchloop.index.gitsource import WORKTREE
from patchloop.index.lexical import Lexical
from patchloop.index.rows import Rows, chunk_texts
from patchloop.index.store import Store
from patchloop.index.tokenize import tokenize

__all__ = ["ChunkSpan", "Definition", "IndexView"]


@dataclass(frozen=True, slots=True)
class Definition:
    """A function, method or class of the indexed tree (lines 1-based, inclusive)."""

    path: str
    qualname: str
    kind: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ChunkSpan:
    """One chunk occurrence: ``row`` is its position in the ref's rows."""

    row: int
    path: str
    symbol: str
    kind: str
    start: int
    end: int


class IndexView:
    """Issue-localization reads over one ref (paths relative to the git root)."""

    def __init__(
        self,
        store: Store,
        *,
        root: Path,
        ref: str,
        commit: str | None,
        rows: Rows,
        chunks: Lexical,
        files: Lexical,
    ) -> None:
        self.store = store
        self.root = root
        self.ref = ref
        self.commit = commit
        self.rows = rows
        self._chunks = chunks
        self._files = files
        self._texts: dict[int, str] = {}
        self._files_read: dict[str, str | None] = {}

    @classmethod
    def open(
        cls, store: Store, *, root: Path, ref: str, commit: str | None, rows: Rows, chunks: Lexical
    ) -> IndexView:
        """The view of ``rows``; the file-level BM25 is loaded, or built and saved."""
        files = Lexical.open(store, rows, unit="file")
        return cls(store, root=root, ref=ref, commit=commit, rows=rows, chunks=chunks, files=files)

    @cached_property
    def paths(self) -> list[str]:
        """Indexed files, sorted."""
        return list(dict.fromkeys(self.rows.paths))

    def search_files(self, query: str, n: int) -> list[tuple[str, float]]:
        """Whole-file BM25: the best ``n`` files for ``query`` with their scores."""
        return [(self._files.paths[d], s) for d, s in self._files.top(tokenize(query), n)]

    def search_chunks(self, query: str, n: int) -> list[tuple[ChunkSpan, float]]:
        """Chunk BM25: the best ``n`` chunks for ``query`` with their scores."""
        return [(self.span(r), s) for r, s in self._chunks.top(tokenize(query), n)]

    def span(self, row: int) -> ChunkSpan:
        """The chunk occurrence at ``row``."""
        rows = self.rows
        return ChunkSpan(
            row,
            rows.paths[row],
            rows.symbols[row],
            rows.kinds[row],
            rows.starts[row],
            rows.ends[row],
        )

    def spans_of(self, path: str) -> list[ChunkSpan]:
        """The chunks of ``path`` in file order."""
        return [self.span(r) for r in self._rows_by_path.get(path, ())]

    @cached_property
    def _rows_by_path(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for row, path in enumerate(self.rows.paths):
            out.setdefault(path, []).append(row)
        return out

    def texts(self, rows: Sequence[int]) -> dict[int, str]:
        """Chunk text per row (cached)."""
        wanted = {r: int(self.rows.chunk_ids[r]) for r in rows if r not in self._texts}
        if wanted:
            found = chunk_texts(self.store, sorted(set(wanted.values())))
            for row, cid in wanted.items():
                self._texts[row] = found.get(cid, "")
        return {r: self._texts[r] for r in rows}

    @cached_property
    def definitions(self) -> Mapping[str, list[Definition]]:
        """Definitions by unqualified name (``fromstring`` -> every ``*.fromstring``)."""
        out: dict[str, list[Definition]] = {}
        for d in self.symbols.values():
            out.setdefault(d.qualname.rpartition(".")[2], []).append(d)
        return out

    @cached_property
    def symbols(self) -> Mapping[tuple[str, str], Definition]:
        """Every definition by ``(path, qualname)``, its span the union of its chunks' spans
        and those of its members."""
        rows = self.rows
        own: dict[tuple[str, str], list[int]] = {}
        kinds: dict[tuple[str, str], str] = {}
        for path, symbol, kind, start, end in zip(
            rows.paths, rows.symbols, rows.kinds, rows.starts, rows.ends, strict=True
        ):
            if not symbol or kind in {"module", "window"}:
                continue
            span = own.get((path, symbol))
            if span is None:
                own[(path, symbol)] = [start, end]
                kinds[(path, symbol)] = kind
            else:
                span[0] = min(span[0], start)
                span[1] = max(span[1], end)
        spans = {key: list(span) for key, span in own.items()}
        for (path, symbol), (start, end) in own.items():
            parent = symbol
            while "." in parent:
                parent = parent.rpartition(".")[0]
                outer = spans.setdefault((path, parent), [start, end])
                outer[0] = min(outer[0], start)
                outer[1] = max(outer[1], end)
        return {
            key: Definition(key[0], key[1], kinds.get(key, "class"), span[0], span[1])
            for key, span in spans.items()
        }

    def read_text(self, path: str) -> str | None:
        """The text of ``path`` in this ref (from disk for the working tree, else from git);
        a committed file is read once per view."""
        if self.ref != WORKTREE and self.commit is not None:
            if path not in self._files_read:
                self._files_read[path] = self._read(path)
            return self._files_read[path]
        return self._read(path)

    def _read(self, path: str) -> str | None:
        if self.ref == WORKTREE or self.commit is None:
            try:
                return (self.root / path).read_text(encoding="utf-8", errors="replace")
            except OSError:
                return None
        from patchloop.errors import RepositoryError
        from patchloop.repo.git import git_bytes

        try:
            return git_bytes(["show", f"{self.commit}:{path}"], self.root).decode(
                "utf-8", "replace"
            )
        except RepositoryError:
            return None
