"""BM25 (bm25s) over a manifest: per chunk (its tokens plus its path and symbol) or per file."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from patchloop.index.rows import Rows
from patchloop.index.store import Store
from patchloop.index.tokenize import tokenize

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Lexical", "Unit"]

#: What one BM25 document is: a chunk occurrence, or a whole file.
Unit = Literal["chunk", "file"]


class Lexical:
    """A BM25 index whose document ``i`` is row ``i`` of ``rows``."""

    def __init__(self, bm25: Any, rows: Rows, *, unit: Unit = "chunk") -> None:
        self.bm25 = bm25
        self.rows = rows
        self.unit: Unit = unit
        self.paths: list[str] = list(dict.fromkeys(rows.paths)) if unit == "file" else []
        """Document ``i``'s path when ``unit == "file"``."""

    @staticmethod
    def directory(store: Store, manifest: str, unit: Unit = "chunk") -> Path:
        """Where the saved index of ``manifest`` lives."""
        return store.dir / "lexical" / (manifest if unit == "chunk" else f"{manifest}.{unit}")

    @classmethod
    def build(cls, store: Store, rows: Rows, *, unit: Unit = "chunk") -> Lexical:
        """Index ``rows`` from the token ids stored with their chunks.

        ``unit="chunk"``: document ``i`` is row ``i`` (chunk tokens plus its path and symbol);
        ``unit="file"``: document ``i`` is the ``i``-th distinct path of ``rows`` (the tokens of
        all its chunks plus its path), which is whole-file BM25.
        """
        import bm25s  # type: ignore[import-untyped]
        import numpy as np

        unique = sorted(set(rows.chunk_ids.tolist()))
        chunk_tokens: dict[int, np.ndarray] = {}
        for start in range(0, len(unique), 900):
            part = unique[start : start + 900]
            marks = ",".join("?" * len(part))
            for cid, blob in store.db.execute(
                f"SELECT id, token_ids FROM chunks WHERE id IN ({marks})", part
            ):
                chunk_tokens[cid] = np.frombuffer(blob, dtype=np.int32)
        names, extra = _name_tokens(store, {*rows.paths, *rows.symbols})
        empty = np.zeros(0, dtype=np.int64)
        docs: list[list[np.ndarray]] = []
        if unit == "file":
            previous = None
            for row, cid in enumerate(rows.chunk_ids.tolist()):
                path = rows.paths[row]
                if path != previous:
                    docs.append([names[path]])
                    previous = path
                docs[-1].append(chunk_tokens.get(cid, empty))
        else:
            for row, cid in enumerate(rows.chunk_ids.tolist()):
                docs.append(
                    [chunk_tokens.get(cid, empty), names[rows.paths[row]], names[rows.symbols[row]]]
                )
        lengths = np.fromiter((sum(len(p) for p in d) for d in docs), dtype=np.int64)
        parts = [p for d in docs for p in d]
        flat = np.concatenate(parts).astype(np.int64) if parts else empty
        # ids of the shared vocabulary -> dense ids of this manifest's vocabulary (a lookup
        # table rather than np.unique: linear, where sorting millions of ids is not)
        present, local = _compact(flat)
        texts = _token_texts(store, present.tolist(), extra)
        vocab = {token: i for i, token in enumerate(texts)}
        bm25 = bm25s.BM25()
        if len(rows):
            _fill(bm25, local, lengths, vocab)
        return cls(bm25, rows, unit=unit)

    def save(self, store: Store) -> None:
        """Persist under the store; another process that saved the same manifest first wins."""
        import numpy as np

        target = self.directory(store, self.rows.manifest, self.unit)
        if target.exists() or len(self.rows) == 0:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
        try:
            self.bm25.save(str(tmp), show_progress=False)
            np.save(tmp / "chunk_ids.npy", self.rows.chunk_ids)
            try:
                tmp.rename(target)
            except OSError:
                if not target.exists():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, store: Store, rows: Rows, *, unit: Unit = "chunk") -> Lexical | None:
        """The saved index of ``rows.manifest``, or ``None`` when absent or stale."""
        import bm25s
        import numpy as np

        target = cls.directory(store, rows.manifest, unit)
        try:
            saved_ids = np.load(target / "chunk_ids.npy")
            if not np.array_equal(saved_ids, rows.chunk_ids):
                return None
            bm25 = bm25s.BM25.load(str(target), mmap=True, show_progress=False, verbosity=0)
        except (OSError, ValueError):
            return None
        return cls(bm25, rows, unit=unit)

    @classmethod
    def open(cls, store: Store, rows: Rows, *, unit: Unit = "chunk") -> Lexical:
        """The saved index, else built and saved."""
        found = cls.load(store, rows, unit=unit)
        if found is None:
            found = cls.build(store, rows, unit=unit)
            found.save(store)
        return found

    def top(self, query_tokens: list[str], n: int) -> list[tuple[int, float]]:
        """Best ``n`` ``(document, score)`` with a positive score (documents are rows, or
        indexes into :attr:`paths` for a file-level index)."""
        import numpy as np

        known = [t for t in query_tokens if t in self.bm25.vocab_dict]
        if not known or len(self.rows) == 0:
            return []
        scores: np.ndarray = self.bm25.get_scores(known)
        n = min(n, len(scores))
        best = np.argpartition(-scores, n - 1)[:n]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(int(r), float(scores[r])) for r in best if scores[r] > 0]


def _compact(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(present, local)``: the distinct values of ``ids`` in ascending order, and each id's
    position among them (what ``np.unique(ids, return_inverse=True)`` returns)."""
    import numpy as np

    if ids.size == 0:
        return ids, ids
    low = int(ids.min())
    shifted = ids - low
    seen = np.zeros(int(shifted.max()) + 1, dtype=bool)
    seen[shifted] = True
    present = np.flatnonzero(seen)
    table = np.cumsum(seen, dtype=np.int64) - 1
    return present + low, table[shifted]


def _name_tokens(store: Store, names: set[str]) -> tuple[dict[str, np.ndarray], dict[int, str]]:
    """Token ids of paths and symbols; tokens new to the vocabulary get negative ids."""
    import numpy as np

    tokens = {name: tokenize(name) for name in names}
    distinct = sorted({t for toks in tokens.values() for t in toks})
    ids: dict[str, int] = {}
    for start in range(0, len(distinct), 900):
        part = distinct[start : start + 900]
        marks = ",".join("?" * len(part))
        ids.update(store.db.execute(f"SELECT token, id FROM vocab WHERE token IN ({marks})", part))
    extra: dict[int, str] = {}
    for token in distinct:
        if token not in ids:
            ids[token] = -1 - len(extra)
            extra[ids[token]] = token
    arrays = {n: np.array([ids[t] for t in toks], dtype=np.int64) for n, toks in tokens.items()}
    return arrays, extra


def _token_texts(store: Store, ids: list[int], extra: dict[int, str]) -> list[str]:
    """Text of each token id (negative ids come from ``extra``)."""
    text: dict[int, str] = dict(extra)
    stored = [i for i in ids if i >= 0]
    for start in range(0, len(stored), 900):
        part = stored[start : start + 900]
        marks = ",".join("?" * len(part))
        text.update(store.db.execute(f"SELECT id, token FROM vocab WHERE id IN ({marks})", part))
    return [text[i] for i in ids]


def _fill(bm25: Any, flat: np.ndarray, lengths: np.ndarray, vocab: dict[str, int]) -> None:
    """Set ``bm25``'s score matrix with array operations.

    ``flat`` holds the token ids of every document in order, ``lengths`` the tokens per
    document, ``vocab`` maps token text to id. Computes exactly what ``bm25s.BM25.index``
    computes for its default method (Lucene idf, Robertson term frequency) without its
    per-document Python loops, which dominate indexing time on large manifests.
    """
    import numpy as np
    from scipy.sparse import csc_matrix  # type: ignore[import-untyped]

    n_docs = len(lengths)
    doc_of = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    width = max(len(vocab), 1)
    pairs, tf = np.unique(doc_of * width + flat, return_counts=True)
    doc, term = pairs // width, pairs % width
    df = np.bincount(term, minlength=width).astype(np.float64)
    idf = np.log(1 + (n_docs - df + 0.5) / (df + 0.5))
    avg = float(lengths.mean()) or 1.0
    k1, b = bm25.k1, bm25.b
    norm = k1 * ((1 - b) + b * lengths[doc] / avg)
    scores = (idf[term] * (tf / (norm + tf))).astype(bm25.dtype)
    matrix = csc_matrix((scores, (doc, term)), shape=(n_docs, width), dtype=bm25.dtype)
    bm25.scores = {
        "data": matrix.data,
        "indices": matrix.indices,
        "indptr": matrix.indptr,
        "num_docs": n_docs,
    }
    bm25.vocab_dict = dict(vocab)
    bm25.unique_token_ids_set = set(vocab.values())
    bm25.nonoccurrence_array = None
