"""FAISS ``IndexIDMap2`` over every embedded chunk of one model, filtered per ref at query time.

SQLite holds the vectors; the FAISS file is a cache of them that records the last embedding row
it contains, so a reader adds whatever was embedded after the file was written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from patchloop.index.embed import DIM
from patchloop.index.store import Store

if TYPE_CHECKING:
    import numpy as np

__all__ = ["VectorIndex"]

_MAGIC = b"patchloop-faiss-2\n"


class VectorIndex:
    """Inner-product search over unique chunk ids."""

    def __init__(self, index: Any, high_water: int) -> None:
        self.index = index
        self.high_water = high_water
        """Largest ``embeddings.seq`` included."""
        self._selectors: dict[str, Any] = {}

    @staticmethod
    def file(store: Store, model: str) -> Path:
        """Where the FAISS cache of ``model`` lives."""
        safe = model.replace("@", "-").replace(":", "-").replace("/", "-")
        return store.path("vectors", f"{safe}.faiss")

    @classmethod
    def load(cls, store: Store, model: str) -> VectorIndex:
        """The cached index plus every vector embedded since it was written."""

        path = cls.file(store, model)
        vectors: VectorIndex | None = None
        if path.exists():
            vectors = _read(path)
        if vectors is None:
            vectors = VectorIndex(_empty_index(), 0)
        vectors.catch_up(store, model)
        return vectors

    def catch_up(self, store: Store, model: str) -> int:
        """Add vectors stored after ``high_water``; returns how many."""
        import numpy as np

        rows = store.db.execute(
            "SELECT seq, chunk_id, vector FROM embeddings WHERE model = ? AND seq > ? ORDER BY seq",
            (model, self.high_water),
        ).fetchall()
        if not rows:
            return 0
        ids = np.array([r[1] for r in rows], dtype=np.int64)
        if self.index.ntotal:
            self.index.remove_ids(ids)  # a chunk re-embedded after gc must not appear twice
        matrix = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(-1, DIM)
        self.index.add_with_ids(matrix, ids)
        self.high_water = int(rows[-1][0])
        self._selectors.clear()
        return len(rows)

    def save(self, store: Store, model: str) -> None:
        """Write the index atomically (under the store lock)."""
        import faiss

        path = self.file(store, model)
        with store.lock():
            on_disk = _read(path) if path.exists() else None
            if on_disk is not None and on_disk.high_water > self.high_water:
                on_disk.catch_up(store, model)
                self.index, self.high_water = on_disk.index, on_disk.high_water
            blob = faiss.serialize_index(self.index).tobytes()
            header = json.dumps({"high_water": self.high_water}).encode() + b"\n"
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(_MAGIC + header + blob)
            tmp.replace(path)

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray, cache_key: str
    ) -> list[tuple[int, float]]:
        """Best ``k`` ``(chunk_id, score)`` among ``allowed`` (sorted, unique) chunk ids.

        When the allowed ids are most of the index, an unfiltered search for a few more than
        ``k`` is filtered afterwards (BLAS speed); otherwise FAISS skips ids with a selector.
        """
        import faiss
        import numpy as np

        total = self.index.ntotal
        if total == 0 or len(allowed) == 0:
            return []
        query = query.reshape(1, -1)
        share = len(allowed) / total
        if share >= 0.5:
            wide = min(total, int(k / share * 1.5) + 16)
            scores, ids = self.index.search(query, wide)
            keep = np.isin(ids[0], allowed) & (ids[0] >= 0)
            if keep.sum() >= min(k, len(allowed)) or wide == total:
                return [
                    (int(i), float(s))
                    for i, s in zip(ids[0][keep][:k], scores[0][keep][:k], strict=True)
                ]
        cached = self._selectors.get(cache_key)
        if cached is None:
            selector = faiss.IDSelectorBatch(allowed)
            params = faiss.SearchParameters()
            params.sel = selector
            # the selector must outlive the parameters that point at it
            cached = self._selectors[cache_key] = (params, selector)
        scores, ids = self.index.search(query, k, params=cached[0])
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def remove(self, chunk_ids: np.ndarray) -> None:
        """Drop vectors of ``chunk_ids``."""
        self.index.remove_ids(chunk_ids)
        self._selectors.clear()


def _empty_index() -> Any:
    """Exact inner-product search over fp16 codes: half the memory traffic of fp32, and the
    same top hits (an fp16 copy of a unit vector is off by about 1e-4 in cosine)."""
    import faiss

    codes = faiss.IndexScalarQuantizer(
        DIM, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
    )
    return faiss.IndexIDMap2(codes)


def _read(path: Path) -> VectorIndex | None:
    import faiss
    import numpy as np

    data = path.read_bytes()
    if not data.startswith(_MAGIC):
        return None
    end = data.index(b"\n", len(_MAGIC))
    header = json.loads(data[len(_MAGIC) : end])
    index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8, offset=end + 1))
    return VectorIndex(index, int(header["high_water"]))
