"""The chunk occurrences of one manifest, in a fixed order shared by every per-ref index."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
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
    """Every chunk occurrence of ``manifest`` (from its saved copy when there is one: a
    manifest is content-addressed, so its rows never change)."""
    cached = _load_saved(store, manifest)
    if cached is not None:
        return cached
    import numpy as np

    cursor = store.db.execute(
        "SELECT mf.path, fc.chunk_id, fc.symbol, fc.kind, fc.start_line, fc.end_line "
        "FROM manifest_files mf JOIN file_chunks fc ON fc.file_key = mf.file_key "
        "WHERE mf.manifest = ? ORDER BY mf.path, fc.seq",
        (manifest,),
    )
    data = cursor.fetchall()
    rows = Rows(
        manifest=manifest,
        chunk_ids=np.asarray([r[1] for r in data], dtype=np.int64),
        paths=[r[0] for r in data],
        symbols=[r[2] for r in data],
        kinds=[r[3] for r in data],
        starts=[r[4] for r in data],
        ends=[r[5] for r in data],
    )
    if data:
        _save(store, rows)
    return rows


def _saved_dir(store: Store, manifest: str) -> Path:
    return store.dir / "lexical" / f"{manifest}.rows"


def _load_saved(store: Store, manifest: str) -> Rows | None:
    import numpy as np

    target = _saved_dir(store, manifest)
    try:
        arrays = np.load(target / "arrays.npy")
        names = json.loads((target / "names.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if arrays.ndim != 2 or arrays.shape[0] != 3 or not isinstance(names, dict):
        return None
    return Rows(
        manifest=manifest,
        chunk_ids=np.ascontiguousarray(arrays[0]),
        paths=names["paths"],
        symbols=names["symbols"],
        kinds=names["kinds"],
        starts=arrays[1].tolist(),
        ends=arrays[2].tolist(),
    )


def _save(store: Store, rows: Rows) -> None:
    """Write ``rows`` next to the manifest's lexical indexes; the first writer wins."""
    import numpy as np

    target = _saved_dir(store, rows.manifest)
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    try:
        np.save(tmp / "arrays.npy", np.asarray([rows.chunk_ids, rows.starts, rows.ends]))
        names = {"paths": rows.paths, "symbols": rows.symbols, "kinds": rows.kinds}
        (tmp / "names.json").write_text(json.dumps(names), encoding="utf-8")
        try:
            tmp.rename(target)
        except OSError:
            if not target.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
