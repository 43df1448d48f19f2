"""The seam between issue localization and a code index: what the ranker reads.

``patchloop.index.view.IndexView`` implements it over the content-addressed store; tests may
pass any object with these members.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

__all__ = ["CodeView", "DefinitionLike", "SpanLike"]


class DefinitionLike(Protocol):
    """A function, method or class: path, qualified name, kind and 1-based inclusive lines."""

    @property
    def path(self) -> str: ...
    @property
    def qualname(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


class SpanLike(Protocol):
    """One chunk occurrence of the index."""

    @property
    def row(self) -> int: ...
    @property
    def path(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


class CodeView(Protocol):
    """Read access to one indexed tree."""

    @property
    def paths(self) -> list[str]:
        """Every indexed file, sorted."""
        ...

    @property
    def definitions(self) -> Mapping[str, Sequence[DefinitionLike]]:
        """Definitions by unqualified name."""
        ...

    @property
    def symbols(self) -> Mapping[tuple[str, str], DefinitionLike]:
        """Definitions by ``(path, qualname)``."""
        ...

    def search_files(self, query: str, n: int) -> Sequence[tuple[str, float]]:
        """Whole-file BM25 hits, best first."""
        ...

    def search_chunks(self, query: str, n: int) -> Sequence[tuple[SpanLike, float]]:
        """Chunk BM25 hits, best first."""
        ...

    def spans_of(self, path: str) -> Sequence[SpanLike]:
        """The chunks of one file in order."""
        ...

    def texts(self, rows: Sequence[int]) -> Mapping[int, str]:
        """Chunk texts by row."""
        ...

    def read_text(self, path: str) -> str | None:
        """A file's text, ``None`` when it cannot be read."""
        ...
