"""Hybrid search: reciprocal-rank fusion of BM25, dense and repository-map ranks per ref.

A ref is indexed lexically on first use when it is not yet (a second or so), so search works on a
cold repository; the dense signal joins as soon as the ref's chunks have embeddings.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from patchloop.domain import Hit
from patchloop.errors import PatchloopError, UsageError
from patchloop.index.builder import index_ref
from patchloop.index.gitsource import repo_root, resolve_ref
from patchloop.index.lexical import Lexical
from patchloop.index.repomap import RepoGraph, mentions_in
from patchloop.index.rows import Rows, chunk_texts, load_rows
from patchloop.index.store import Store
from patchloop.index.tokenize import tokenize
from patchloop.index.view import IndexView

if TYPE_CHECKING:
    import numpy as np

    from patchloop.index.vectors import VectorIndex

__all__ = [
    "HybridRetriever",
    "lexical_retriever",
    "open_retriever",
    "project_scope",
    "search",
]

SIGNALS = ("bm25", "dense", "repomap")


@dataclass
class _RefState:
    rows: Rows
    lexical: Lexical
    ref: str = ""
    commit: str | None = None
    view: IndexView | None = None
    graph: RepoGraph | None = None
    allowed: np.ndarray | None = None
    dense_ready: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class HybridRetriever:
    """The ``Retriever`` seam over the content-addressed index of one repository.

    ``dense`` turns the embedding signal on (ONNX Runtime for queries, no torch import);
    ``auto_index`` indexes an unindexed ref lexically on first use instead of failing.
    """

    def __init__(
        self,
        repo: Path,
        *,
        ref: str | None = None,
        store_dir: Path | None = None,
        dense: bool = True,
        repomap: bool = True,
        auto_index: bool = True,
        rrf_k: int = 60,
        depth: int = 50,
        weights: dict[str, float] | None = None,
        scope: str = "",
    ) -> None:
        self.root = repo_root(Path(repo))
        self.scope = scope.strip("/")
        """Only hits under this directory of the repository, with paths relative to it."""
        self.ref = ref
        self.store = Store(store_dir)
        self.dense = dense
        self.repomap = repomap
        self.auto_index = auto_index
        self.rrf_k = rrf_k
        self.depth = depth
        self.weights = {"bm25": 1.0, "dense": 1.0, "repomap": 0.5, **(weights or {})}
        self.last_signals: tuple[str, ...] = ()
        """Signals that contributed to the last search."""
        self._states: dict[str, _RefState] = {}
        self._vectors: VectorIndex | None = None
        self._embedder: Any = None
        self._dense_error: str | None = None

    def close(self) -> None:
        """Release the database connection."""
        self.store.close()

    def refresh(self) -> None:
        """Forget loaded refs, so the next search sees new commits and working-tree edits."""
        self._states.clear()
        self._vectors = None

    def search(self, query: str, k: int = 10, ref: str | None = None) -> list[Hit]:
        """Best ``k`` chunks for ``query`` in ``ref`` (default: the retriever's ref)."""
        return [hit for hit, _ in self.search_scored(query, k, ref)]

    def search_scored(
        self, query: str, k: int = 10, ref: str | None = None
    ) -> list[tuple[Hit, dict[str, float]]]:
        """Like :meth:`search`, each hit with its raw score per signal: the BM25 score, the
        cosine similarity, and the repo-map score (the file's personalised PageRank, ten times
        that where the chunk defines a name the query mentions)."""
        state = self._state(ref if ref is not None else self.ref)
        rows = state.rows
        if len(rows) == 0 or k <= 0:
            return []
        depth = max(self.depth, 3 * k)
        ranks: dict[str, dict[int, int]] = {}
        raw: dict[str, dict[int, float]] = {}
        bm25 = state.lexical.top(tokenize(query), depth)
        if bm25:
            ranks["bm25"] = {row: n + 1 for n, (row, _) in enumerate(bm25)}
            raw["bm25"] = dict(bm25)
        dense = self._dense_rows(state, query, depth)
        if dense:
            ranks["dense"] = {row: rank for row, (rank, _) in dense.items()}
            raw["dense"] = {row: score for row, (_, score) in dense.items()}
        if self.repomap:
            mapped = self._repomap_rows(state, query, depth)
            if mapped:
                ranks["repomap"] = {row: n + 1 for n, (row, _) in enumerate(mapped)}
                raw["repomap"] = dict(mapped)
        self.last_signals = tuple(ranks)
        fused: dict[int, float] = {}
        for signal, by_row in ranks.items():
            weight = self.weights.get(signal, 1.0)
            for row, rank in by_row.items():
                fused[row] = fused.get(row, 0.0) + weight / (self.rrf_k + rank)
        ordered = sorted(fused, key=lambda r: (-fused[r], r))
        prefix = f"{self.scope}/" if self.scope else ""
        best = [r for r in ordered if rows.paths[r].startswith(prefix)][:k]
        texts = chunk_texts(self.store, sorted({int(rows.chunk_ids[r]) for r in best}))
        return [
            (
                Hit(
                    path=rows.paths[r][len(prefix) :],
                    start_line=rows.starts[r],
                    end_line=rows.ends[r],
                    symbol=rows.symbols[r],
                    text=texts.get(int(rows.chunk_ids[r]), ""),
                    score=round(fused[r], 6),
                    ranks={s: by_row[r] for s, by_row in ranks.items() if r in by_row},
                ),
                {s: round(by_row[r], 6) for s, by_row in raw.items() if r in by_row},
            )
            for r in best
        ]

    def repo_map(
        self,
        task: str = "",
        budget_tokens: int = 1024,
        ref: str | None = None,
        *,
        project_only: bool = False,
        exclude: Collection[str] = (),
    ) -> str:
        """Files and their definitions, ranked toward what ``task`` mentions, within a budget.

        Paths are relative to the git root; with ``project_only``, only files below the project
        directory, named relative to it. Files in ``exclude`` (named the same way) are left out.
        """
        state = self._state(ref if ref is not None else self.ref)
        graph = self._graph(state)
        personal = graph.personalization(mentions_in(task)) if task else None
        if personal is None:
            import numpy as np

            personal = np.full(len(graph.paths), 1.0 / max(len(graph.paths), 1))
        prefix = f"{self.scope}/" if project_only and self.scope else ""
        left_out = set(exclude)

        def name(path: str) -> str | None:
            if not path.startswith(prefix):
                return None
            shown = path[len(prefix) :]
            return None if shown in left_out else shown

        return graph.render(self.store, state.rows, graph.rank(personal), budget_tokens, name)

    def view(self, ref: str | None = None) -> IndexView:
        """The read-only view of ``ref`` that issue localization ranks with (paths relative to
        the git root; :attr:`scope` says which of them belong to the project)."""
        state = self._state(ref if ref is not None else self.ref)
        if state.view is None:
            state.view = IndexView.open(
                self.store,
                root=self.root,
                ref=state.ref,
                commit=state.commit,
                rows=state.rows,
                chunks=state.lexical,
            )
        return state.view

    # -- per-ref state --------------------------------------------------------------------

    def _state(self, ref: str | None) -> _RefState:
        asked = ref or ""
        if asked in self._states:
            return self._states[asked]  # resolved once per retriever until refresh()
        name, commit = resolve_ref(self.root, ref)
        manifest = self._manifest(name, commit)
        rows = load_rows(self.store, manifest)
        lexical = Lexical.open(self.store, rows)
        state = _RefState(rows, lexical, name, commit)
        self._states[asked] = state
        if self._vectors is not None:
            from patchloop.index.embed import model_key

            self._vectors.catch_up(self.store, model_key())
        return state

    def _manifest(self, name: str, commit: str | None) -> str:
        if self.auto_index:
            return index_ref(self.store, self.root, name, commit, dense=False).manifest
        row = self.store.db.execute(
            "SELECT manifest, commit_id FROM refs WHERE repo = ? AND ref = ?",
            (str(self.root), name),
        ).fetchone()
        if row is None or (commit is not None and row[1] != commit):
            raise UsageError(
                f"{name} of {self.root} is not indexed at its current commit",
                hint=f"run `patchloop index --repo {self.root}`",
            )
        return str(row[0])

    def _graph(self, state: _RefState) -> RepoGraph:
        if state.graph is None:
            state.graph = RepoGraph.build(self.store, state.rows.manifest)
        return state.graph

    def _repomap_rows(self, state: _RefState, query: str, depth: int) -> list[tuple[int, float]]:
        graph = self._graph(state)
        mentions = mentions_in(query)
        personal = graph.personalization(mentions)
        if personal is None:
            return []
        return graph.top_rows_scored(state.rows, graph.rank(personal), mentions, depth)

    # -- dense ----------------------------------------------------------------------------

    def _dense_rows(self, state: _RefState, query: str, depth: int) -> dict[int, tuple[int, float]]:
        """Row -> (rank, cosine similarity) of the nearest chunks."""
        if not self.dense or self._dense_error is not None:
            return {}
        try:
            vectors = self._vector_index()
            if state.allowed is None:
                import faiss
                import numpy as np

                state.allowed = np.unique(state.rows.chunk_ids)
                stored = faiss.vector_to_array(vectors.index.id_map)
                state.dense_ready = bool(np.isin(state.allowed, stored).any())
            if not state.dense_ready:
                return {}
            embedder = self._query_embedder()
        except (ImportError, OSError, PatchloopError) as exc:
            self._dense_error = str(exc)
            return {}
        found = vectors.search(
            embedder.embed([query])[0], depth, state.allowed, state.rows.manifest
        )
        ranks: dict[int, tuple[int, float]] = {}
        for n, (cid, score) in enumerate(found):
            for row in state.rows.rows_of_chunk(cid):
                ranks.setdefault(row, (n + 1, score))
        return ranks

    def _vector_index(self) -> VectorIndex:
        from patchloop.index.embed import model_key
        from patchloop.index.vectors import VectorIndex

        if self._vectors is None:
            import faiss

            # single-query searches are fastest on one thread (OpenMP start-up dominates)
            faiss.omp_set_num_threads(1)
            self._vectors = VectorIndex.load(self.store, model_key())
        return self._vectors

    def _query_embedder(self) -> Any:
        from patchloop.index.embed import load_embedder

        if self._embedder is None:
            # one thread: a single short query gains nothing from more and suffers contention
            self._embedder = load_embedder("onnx", models_dir=self.store.dir / "models", threads=1)
        return self._embedder

    @property
    def dense_error(self) -> str | None:
        """Why the dense signal is off, when it failed to load."""
        return self._dense_error


def open_retriever(
    where: Any, snapshot: object | None = None, *, store_dir: Path | None = None, dense: bool = True
) -> HybridRetriever:
    """A hybrid retriever over the working tree of a project, hit paths relative to it.

    ``where`` is a project directory or an object with a ``project`` path (a located project);
    the project may be a subdirectory of its git work tree. ``snapshot`` is accepted for callers
    that hold one: it copies the same working tree, which is what gets indexed. The dense signal
    joins once the working tree has embeddings (``patchloop index``); until then search is
    lexical and never imports torch.
    """
    del snapshot
    project = Path(getattr(where, "project", where)).resolve()
    return HybridRetriever(project, store_dir=store_dir, dense=dense, scope=project_scope(project))


def project_scope(project: Path) -> str:
    """Where ``project`` lies in its git work tree (``""`` at the top): the hits' scope."""
    scope = project.relative_to(repo_root(project)).as_posix()
    return "" if scope == "." else scope


def lexical_retriever(
    repo: Path, *, ref: str | None = None, store_dir: Path | None = None, scope: str = ""
) -> HybridRetriever:
    """A retriever with BM25 and repo-map ranks only: no model, no torch or faiss import."""
    return HybridRetriever(repo, ref=ref, store_dir=store_dir, dense=False, scope=scope)


def search(
    repo: Path,
    query: str,
    *,
    k: int = 10,
    ref: str | None = None,
    store_dir: Path | None = None,
    dense: bool = True,
) -> list[Hit]:
    """One hybrid search (opens and closes the index)."""
    retriever = HybridRetriever(repo, ref=ref, store_dir=store_dir, dense=dense)
    try:
        return retriever.search(query, k)
    finally:
        retriever.close()
