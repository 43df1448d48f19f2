"""The chunk occurrences of one manifest, in a fixed order shared by every per-ref index."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from patchloop.index.store import Store

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Rows", "chunk_texts", "load_rows"]


@dataclass
class Rows:
    """Row ``i`` is one chunk at one path; ordered by path, then position in the file."""

    manifest: str
    chunk_ids: np.ndarray
    paths: list[str]
    symbols: list[str]
    kinds: list[str]
    starts: list[int]
    ends: list[int]
    _by_chunk: dict[int, list[int]] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.paths)

    def rows_of_chunk(self, chunk_id: int) -> list[int]:
        """Rows holding ``chunk_id`` (the same text may occur at several paths)."""
        if self._by_chunk is None:
            index: dict[int, list[int]] = {}
            for row, cid in enumerate(self.chunk_ids.tolist()):
                index.setdefault(cid, []).append(row)
            self._by_chunk = index
        return self._by_chunk.get(chunk_id, [])


def load_rows(store: Store, manifest: str) -> Rows:
    """Every chunk occurrence of ``manifest``."""
    import numpy as np

    cursor = store.db.execute(
        "SELECT mf.path, fc.chunk_id, fc.symbol, fc.kind, fc.start_line, fc.end_line "
        "FROM manifest_files mf JOIN file_chunks fc ON fc.file_key = mf.file_key "
        "WHERE mf.manifest = ? ORDER BY mf.path, fc.seq",
        (manifest,),
    )
    data = cursor.fetchall()
    return Rows(
        manifest=manifest,
        chunk_ids=np.asarray([r[1] for r in data], dtype=np.int64),
        paths=[r[0] for r in data],
        symbols=[r[2] for r in data],
        kinds=[r[3] for r in data],
        starts=[r[4] for r in data],
        ends=[r[5] for r in data],
    )


def chunk_texts(store: Store, chunk_ids: list[int]) -> dict[int, str]:
    """Text of each chunk id."""
    texts: dict[int, str] = {}
    for start in range(0, len(chunk_ids), 500):
        part = chunk_ids[start : start + 500]
        marks = ",".join("?" * len(part))
        for cid, text in store.db.execute(
            f"SELECT id, text FROM chunks WHERE id IN ({marks})", part
        ):
            texts[cid] = text
    return texts
