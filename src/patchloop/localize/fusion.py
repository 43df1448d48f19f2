"""Weighted reciprocal-rank fusion of localization signals, and re-localization after a failure.

Each signal is a ranked list of locations. Locations are merged per *unit*: a function
(path + qualified name) or, for module-level code, a path + line. A unit's fused score is
``sum(weight[s] / (rrf_k + rank_s))`` over the signals that rank it (Cormack et al., 2009).

Default weights (:data:`DEFAULT_WEIGHTS`) encode how often each signal points at the code to
change: a traceback frame from the failing test (3.0) beats SBFL (2.0), the code a failing test
calls (1.5) and places named in the task text (1.5); the issue ranker (files, then definitions,
from the task text through the code index) counts 2.0; each retrieval signal alone counts 1.0
(BM25, dense) or 0.5 (repo map). With ``rrf_k = 60`` the top traceback frame therefore outranks
the first hit of every lexical signal unless two or more of them agree on another unit near
their tops.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from patchloop.domain import Hit, Location

__all__ = [
    "DEFAULT_WEIGHTS",
    "RRF_K",
    "fuse",
    "fuse_files",
    "hits_to_rankings",
    "promote",
    "unit_key",
]

#: Weight of each signal in the fusion; signals not listed weigh 1.0.
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "traceback": 3.0,
    "sbfl": 2.0,
    "calls": 1.5,
    "mentions": 1.5,
    "issue": 2.0,
    "bm25": 1.0,
    "dense": 1.0,
    "retrieval": 1.0,
    "repomap": 0.5,
}
#: The rank offset of reciprocal-rank fusion.
RRF_K = 60

Unit = tuple[str, str, int]


def unit_key(loc: Location) -> Unit:
    """The unit a location belongs to: ``(path, symbol, 0)`` or ``(path, "", start_line)``."""
    return (loc.path, loc.symbol, 0) if loc.symbol else (loc.path, "", loc.start_line)


def hits_to_rankings(
    hits: Sequence[Hit], scores: Sequence[Mapping[str, float]] | None = None
) -> dict[str, list[Location]]:
    """Per-signal ranked locations from retriever hits, using each hit's ``ranks``.

    ``scores[i]`` holds hit ``i``'s raw score per signal (BM25 score, cosine similarity,
    PageRank), when the retriever reports them; a signal without one carries its rank only.
    A hit without per-signal ranks counts under the signal ``retrieval`` in result order.
    """
    per_signal: dict[str, list[tuple[int, int, Location]]] = {}
    raw: dict[tuple[str, int], float] = {}
    for order, hit in enumerate(hits):
        for signal, value in (scores[order] if scores is not None else {}).items():
            raw[signal, order] = value
        loc = Location(
            path=hit.path,
            start_line=hit.start_line,
            end_line=hit.end_line,
            symbol=hit.symbol,
            score=hit.score,
        )
        ranks = hit.ranks or {"retrieval": order + 1}
        for signal, rank in ranks.items():
            per_signal.setdefault(signal, []).append((rank, order, loc))
    out: dict[str, list[Location]] = {}
    for signal, items in per_signal.items():
        items.sort(key=lambda item: (item[0], item[1]))
        out[signal] = [
            loc.model_copy(
                update={"signals": {signal: raw[signal, order]} if (signal, order) in raw else {}}
            )
            for _, order, loc in items
        ]
    return out


def _dedupe(locations: Iterable[Location]) -> list[Location]:
    seen: set[Unit] = set()
    out = []
    for loc in locations:
        key = unit_key(loc)
        if key not in seen:
            seen.add(key)
            out.append(loc)
    return out


def fuse(
    rankings: Mapping[str, Sequence[Location]],
    *,
    weights: Mapping[str, float] | None = None,
    rrf_k: int = RRF_K,
) -> list[Location]:
    """Fused ranking of the units in ``rankings`` (signal name -> ranked locations), best first.

    Each result's ``signals`` holds, per contributing signal ``s``, ``s_rank`` = the unit's
    rank in it (1-based) and ``s`` = the signal's own score where the location carries one in
    its ``signals``. The span comes from the
    highest-weighted signal that ranks the unit.
    """
    weights = {**DEFAULT_WEIGHTS, **(weights or {})}
    fused: dict[Unit, float] = {}
    signals: dict[Unit, dict[str, float]] = {}
    places: dict[Unit, tuple[float, Location]] = {}
    for name, ranked in rankings.items():
        weight = weights.get(name, 1.0)
        for rank, loc in enumerate(_dedupe(ranked), start=1):
            key = unit_key(loc)
            fused[key] = fused.get(key, 0.0) + weight / (rrf_k + rank)
            entry = signals.setdefault(key, {})
            if name in loc.signals:
                entry[name] = loc.signals[name]
            entry[f"{name}_rank"] = float(rank)
            if key not in places or places[key][0] < weight:
                places[key] = (weight, loc)
    order = sorted(fused, key=lambda key: (-fused[key], key))
    return [
        places[key][1].model_copy(update={"score": round(fused[key], 6), "signals": signals[key]})
        for key in order
    ]


def fuse_files(
    rankings: Mapping[str, Sequence[Location]],
    *,
    weights: Mapping[str, float] | None = None,
    rrf_k: int = RRF_K,
) -> list[Location]:
    """Fused ranking of files: a file's rank in a signal is the rank of its best location.

    Results are file-level locations: ``symbol=""`` and ``start_line = end_line = 0``, which
    stands for the whole file.
    """
    by_file = {
        name: [
            loc.model_copy(update={"symbol": "", "start_line": 0, "end_line": 0})
            for loc in _first_per_file(ranked)
        ]
        for name, ranked in rankings.items()
    }
    return fuse(by_file, weights=weights, rrf_k=rrf_k)


def _first_per_file(locations: Sequence[Location]) -> list[Location]:
    seen: set[str] = set()
    out = []
    for loc in locations:
        if loc.path not in seen:
            seen.add(loc.path)
            out.append(loc)
    return out


def promote(previous: Sequence[Location], new: Sequence[Location]) -> list[Location]:
    """``previous`` with the units of ``new`` moved to the front, in ``new``'s order.

    Units not in ``new`` keep their relative order; a ranking whose head already is ``new``
    comes back unchanged. Promoted units get the signal ``retrace`` (their score in ``new``)
    and a score above every other unit, so scores stay sorted.
    """
    fresh = _dedupe(new)
    if not fresh:
        return list(previous)
    head_keys = [unit_key(loc) for loc in fresh]
    old = {unit_key(loc): loc for loc in previous}
    if [unit_key(loc) for loc in previous[: len(head_keys)]] == head_keys:
        return list(previous)
    rest = [loc for loc in previous if unit_key(loc) not in set(head_keys)]
    top = max((loc.score for loc in rest), default=0.0)
    head = []
    for i, loc in enumerate(fresh):
        base = old.get(unit_key(loc), loc)
        signals = {**base.signals, "retrace": loc.signals.get("traceback", loc.score)}
        score = round(top + (len(fresh) - i), 6)
        head.append(base.model_copy(update={"score": score, "signals": signals}))
    return head + rest
