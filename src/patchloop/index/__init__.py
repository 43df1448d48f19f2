"""Per-ref incremental code index with hybrid (BM25 + dense + repo map) retrieval.

Public surface, imported lazily so that ``import patchloop.index`` costs nothing (no torch,
faiss, numpy or tree-sitter until used)::

    build_index(repo, ref=None, store_dir=None, *, dense=True, progress=None) -> IndexStats
    search(repo, query, *, k=10, ref=None, store_dir=None, dense=True) -> list[Hit]
    gc(store_dir=None) -> GcStats
    HybridRetriever(repo, ref=..., store_dir=..., dense=True)   # the Retriever seam
    open_retriever(project, snapshot=None)                      # working tree, project paths
    lexical_retriever(repo, ref=None, store_dir=None)           # BM25 + repo map, no model
    project_scope(project) -> str                               # its place in the work tree
    default_index_dir() -> Path

Retrievers are registered by short name in :data:`retrievers` (``hybrid``, ``lexical``), the
names ``context.retriever`` chooses among; each entry is a :class:`RetrieverFactory`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from patchloop.registry import Registry

if TYPE_CHECKING:
    from patchloop.index.builder import build_index
    from patchloop.index.collect import gc
    from patchloop.index.gitsource import WORKTREE
    from patchloop.index.hybrid import (
        HybridRetriever,
        lexical_retriever,
        open_retriever,
        project_scope,
        search,
    )
    from patchloop.index.stats import GcStats, IndexStats, Progress
    from patchloop.index.store import default_index_dir
    from patchloop.protocols import Retriever

__all__ = [
    "WORKTREE",
    "GcStats",
    "HybridRetriever",
    "IndexStats",
    "Progress",
    "RetrieverFactory",
    "build_index",
    "default_index_dir",
    "gc",
    "lexical_retriever",
    "open_retriever",
    "project_scope",
    "retrievers",
    "search",
]


class RetrieverFactory(Protocol):
    """What a ``retriever`` registry entry is: a retriever over the working tree ``repo``,
    its hits limited to ``scope`` (see :func:`project_scope`)."""

    def __call__(
        self, repo: Path, *, store_dir: Path | None = None, scope: str = ""
    ) -> Retriever: ...


#: Retriever implementations by short name.
retrievers: Registry[RetrieverFactory] = Registry(
    "retriever",
    {
        "hybrid": "patchloop.index.hybrid:HybridRetriever",
        "lexical": "patchloop.index.hybrid:lexical_retriever",
    },
)

_LAZY = {
    "WORKTREE": "patchloop.index.gitsource",
    "GcStats": "patchloop.index.stats",
    "HybridRetriever": "patchloop.index.hybrid",
    "IndexStats": "patchloop.index.stats",
    "Progress": "patchloop.index.stats",
    "build_index": "patchloop.index.builder",
    "default_index_dir": "patchloop.index.store",
    "gc": "patchloop.index.collect",
    "lexical_retriever": "patchloop.index.hybrid",
    "open_retriever": "patchloop.index.hybrid",
    "project_scope": "patchloop.index.hybrid",
    "search": "patchloop.index.hybrid",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
