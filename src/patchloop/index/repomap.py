"""Repository map: a file graph from tree-sitter def/ref tags, ranked by personalized PageRank.

A file that references an identifier points at the files that define it (weighted as in aider's
repo map: long descriptive names count more, private names and names defined in many files
less). Ranking is PageRank personalised toward the files and identifiers a task mentions.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from patchloop.context.tokens import estimate_tokens
from patchloop.index.rows import Rows, chunk_texts
from patchloop.index.store import Store

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Mentions", "RepoGraph", "mentions_in"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PATHISH = re.compile(r"[\w./-]+\.\w+")
_DAMPING = 0.85
#: A name defined in more files than this says little about where a reference points, and
#: its edges grow with the square of its spread, so it is left out of the graph.
_MAX_DEFINERS = 12
_TOLERANCE = 1e-5


@dataclass(frozen=True)
class Mentions:
    """What a task names: identifiers and path-like words."""

    identifiers: frozenset[str]
    paths: frozenset[str]


def mentions_in(text: str) -> Mentions:
    """Identifiers (3+ characters) and path-like words in ``text``."""
    idents = frozenset(w for w in _IDENT.findall(text) if len(w) >= 3)
    return Mentions(idents, frozenset(_PATHISH.findall(text)))


class RepoGraph:
    """Files of one manifest and the weighted reference edges between them."""

    def __init__(self, paths: list[str], definers: dict[str, list[int]], transition: Any) -> None:
        import numpy as np

        self.paths = paths
        self.definers = definers
        self._lower: dict[str, list[str]] = {}
        for name in definers:
            self._lower.setdefault(name.lower(), []).append(name)
        self.transition = transition
        """Row-stochastic matrix over files (referencer -> definer)."""
        self._views: dict[str, tuple[list[np.ndarray], list[str]]] = {}
        self._row_files: dict[str, np.ndarray] = {}
        self._dangling = np.asarray(transition.sum(axis=1)).ravel() == 0
        self._transposed = transition.T.tocsr()

    @classmethod
    def build(cls, store: Store, manifest: str) -> RepoGraph:
        """Graph of ``manifest`` from the tags stored with each file version."""
        import numpy as np
        from scipy.sparse import coo_matrix, diags  # type: ignore[import-untyped]

        data = store.db.execute(
            "SELECT mf.path, f.defs, f.refs FROM manifest_files mf "
            "JOIN files f ON f.key = mf.file_key WHERE mf.manifest = ? ORDER BY mf.path",
            (manifest,),
        ).fetchall()
        paths = [row[0] for row in data]
        definers: dict[str, list[int]] = {}
        for i, (_, defs, _) in enumerate(data):
            for name in {d[0] for d in json.loads(defs)}:
                if name:
                    definers.setdefault(name, []).append(i)
        edges: dict[tuple[int, int], float] = {}
        for i, (_, _, refs) in enumerate(data):
            for name, count in json.loads(refs).items():
                targets = definers.get(name)
                if not targets or len(targets) > _MAX_DEFINERS:
                    continue
                weight = _weight(name, len(targets)) * math.sqrt(count)
                for j in targets:
                    if j != i:
                        edges[(i, j)] = edges.get((i, j), 0.0) + weight
        n = len(paths)
        if edges:
            (rows, cols), vals = zip(*edges.keys(), strict=True), list(edges.values())
            matrix = coo_matrix((vals, (rows, cols)), shape=(n, n)).tocsr()
        else:
            matrix = coo_matrix((n, n)).tocsr()
        out = np.asarray(matrix.sum(axis=1)).ravel()
        inverse = np.divide(1.0, out, out=np.zeros_like(out), where=out > 0)
        return cls(paths, definers, (diags(inverse) @ matrix).tocsr())

    def personalization(self, mentions: Mentions) -> np.ndarray | None:
        """Restart distribution over files, or ``None`` when the task names nothing known."""
        import numpy as np

        weights = np.zeros(len(self.paths))
        for i, path in enumerate(self.paths if mentions.paths else ()):
            base = path.rsplit("/", 1)[-1]
            if any(
                m in (path, base) or m.endswith("/" + path) or path.endswith(m)
                for m in mentions.paths
            ):
                weights[i] += 1.0
        for ident in mentions.identifiers:
            names = self._lower.get(ident.lower(), []) if ident not in self.definers else [ident]
            for name in names:
                files = self.definers[name]
                for i in files:
                    weights[i] += 1.0 / len(files)
        total = weights.sum()
        return weights / total if total > 0 else None

    def rank(self, personal: np.ndarray, iterations: int = 15) -> np.ndarray:
        """Personalised PageRank of every file."""
        import numpy as np

        dangling = self._dangling
        rank = personal.copy()
        for _ in range(iterations):
            spread = self._transposed @ rank
            new = _DAMPING * (spread + rank[dangling].sum() * personal) + (1 - _DAMPING) * personal
            if np.abs(new - rank).sum() < _TOLERANCE:
                rank = new
                break
            rank = new
        result: np.ndarray = np.asarray(rank)
        return result

    def top_rows(self, rows: Rows, file_rank: np.ndarray, mentions: Mentions, n: int) -> list[int]:
        """Best ``n`` rows: their file's rank, times ten where the chunk defines a mentioned name.

        Only rows of the best-ranked files are scored, so the cost follows ``n``, not the repo.
        """
        return [row for row, _ in self.top_rows_scored(rows, file_rank, mentions, n)]

    def top_rows_scored(
        self, rows: Rows, file_rank: np.ndarray, mentions: Mentions, n: int
    ) -> list[tuple[int, float]]:
        """:meth:`top_rows` with each row's score."""
        import numpy as np

        file_rows, leaf = self._row_view(rows)
        files = min(len(file_rank), max(n, 8))
        best_files = np.argpartition(-file_rank, files - 1)[:files]
        candidates = np.concatenate([file_rows[int(f)] for f in best_files] or [np.zeros(0, int)])
        if candidates.size == 0:
            return []
        scores = file_rank[self._row_file(rows)[candidates]]
        mentioned = {m.lower() for m in mentions.identifiers}
        boost = np.array([leaf[int(r)] in mentioned for r in candidates], dtype=bool)
        scores = np.where(boost, scores * 10.0, scores)
        keep = scores > 0
        candidates, scores = candidates[keep], scores[keep]
        order = np.argsort(-scores, kind="stable")[:n]
        return [(int(r), float(v)) for r, v in zip(candidates[order], scores[order], strict=True)]

    def _row_file(self, rows: Rows) -> np.ndarray:
        self._row_view(rows)
        return self._row_files[rows.manifest]

    def _row_view(self, rows: Rows) -> tuple[list[np.ndarray], list[str]]:
        import numpy as np

        cached = self._views.get(rows.manifest)
        if cached is None:
            index = {p: i for i, p in enumerate(self.paths)}
            row_file = np.array([index.get(p, -1) for p in rows.paths], dtype=np.int64)
            order = np.argsort(row_file, kind="stable")
            bounds = np.searchsorted(row_file[order], np.arange(len(self.paths) + 1))
            file_rows = [order[bounds[i] : bounds[i + 1]] for i in range(len(self.paths))]
            leaf = [s.rsplit(".", 1)[-1].lower() if s else "" for s in rows.symbols]
            cached = self._views[rows.manifest] = (file_rows, leaf)
            self._row_files[rows.manifest] = row_file
        return cached

    def render(
        self,
        store: Store,
        rows: Rows,
        file_rank: np.ndarray | None,
        budget_tokens: int,
        name: Callable[[str], str | None] | None = None,
    ) -> str:
        """Definitions' first lines per file, best files first, within ``budget_tokens``.

        ``name`` gives the name a file is shown under, or ``None`` to leave the file out.
        """
        import numpy as np

        order = (
            np.argsort(-file_rank, kind="stable")
            if file_rank is not None
            else range(len(self.paths))
        )
        by_path: dict[str, list[int]] = {}
        for row, kind in enumerate(rows.kinds):
            if kind not in ("module", "window"):
                by_path.setdefault(rows.paths[row], []).append(row)
        parts: list[str] = []
        used = 0
        for i in order:
            path = self.paths[int(i)]
            members = by_path.get(path)
            shown = name(path) if name is not None else path
            if not members or shown is None:
                continue
            texts = chunk_texts(store, [int(rows.chunk_ids[r]) for r in members])
            seen: set[str] = set()
            lines = [f"{shown}:"]
            for r in members:
                if rows.symbols[r] in seen:
                    continue  # later pieces of a split definition
                seen.add(rows.symbols[r])
                first = _signature(texts.get(int(rows.chunk_ids[r]), ""))
                if first:
                    lines.append(f"{rows.starts[r]:>5}: {first}")
            block = "\n".join(lines) + "\n"
            cost = estimate_tokens(block)
            if used + cost > budget_tokens:
                continue
            parts.append(block)
            used += cost
        return "".join(parts)


def _signature(text: str) -> str:
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "//", "/*", "*", "@")):
            return line.rstrip()
    return ""


def _weight(name: str, definers: int) -> float:
    weight = 1.0
    descriptive = ("_" in name or any(c.isupper() for c in name[1:])) and len(name) >= 8
    if descriptive:
        weight *= 10.0
    if name.startswith("_"):
        weight *= 0.1
    if definers > 5:
        weight *= 0.1
    return weight
