"""Fit the issue ranker's weights on a feature dump of the development split. Prints JSON.

    python bench/localize_bench.py --swebench ../shared/bench/swebench/verified.jsonl \
        --exclude ../shared/bench/swebench/lite.jsonl --repos DIR --dump-features dev.jsonl
    python bench/localize_train.py dev.jsonl

Each level (files, definitions) is a linear model over the features of its candidates, fitted
by minimising the listwise softmax loss ``-log(sum of the gold candidates' probabilities)``
per instance plus an L2 penalty (L-BFGS). The JSON holds the fitted weights, and hit@1/@5
of the shipped weights, of the fitted weights in 5-fold cross-validation (folds by instance)
and of the fitted weights on the data they were fitted on. File weights are blended with a
hand-set prior (``--file-blend``, default half and half), definition weights are the fitted
ones. Paste the weights into ``src/patchloop/localize/issue_weights.py``. Never fit on the
evaluation split (Lite).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from patchloop.localize.issue import FILE_FEATURES, SYMBOL_FEATURES
from patchloop.localize.issue_weights import FILE_WEIGHTS, SYMBOL_WEIGHTS

Group = tuple[np.ndarray, np.ndarray]

#: Hand-set file weights the fitted ones are blended with (``--file-blend``): how strongly
#: each pointer should count before any data, so that 169 issues refine rather than replace.
PRIOR_FILE_WEIGHTS = {
    "bm25_file": 2.0,
    "bm25_rank": 1.0,
    "bm25_chunk": 1.0,
    "bm25_title": 1.0,
    "names_code": 2.0,
    "names_title": 1.5,
    "names_text": 1.0,
    "qualified": 1.5,
    "resolved": 2.0,
    "module": 1.5,
    "path": 3.0,
    "frame": 1.0,
    "frame_last": 1.5,
    "message": 3.0,
    "stem": 1.5,
    "init": -0.5,
    "minor_language": -1.0,
    "outside_main": -1.0,
}


def groups(records: Sequence[Mapping[str, Any]], level: str, names: Sequence[str]) -> list[Group]:
    out = []
    for record in records:
        cands = record[level]
        if not cands or not any(c["gold"] for c in cands):
            continue
        x = np.array([[c["features"].get(n, 0.0) for n in names] for c in cands], dtype=float)
        y = np.array([bool(c["gold"]) for c in cands])
        out.append((x, y))
    return out


def loss(w: np.ndarray, data: Sequence[Group], l2: float) -> tuple[float, np.ndarray]:
    total = 0.0
    grad = np.zeros_like(w)
    for x, y in data:
        s = x @ w
        s = s - s.max()
        p = np.exp(s)
        z = p.sum()
        p = p / z
        pg = p[y].sum()
        total -= np.log(max(pg, 1e-300))
        # d/dw -log(sum_gold p) = E_p[x] - E_{p|gold}[x]
        q = np.where(y, p, 0.0) / max(pg, 1e-300)
        grad += p @ x - q @ x
    n = max(len(data), 1)
    return total / n + l2 * float(w @ w), grad / n + 2 * l2 * w


def fit(data: Sequence[Group], dim: int, l2: float) -> np.ndarray:
    from scipy.optimize import minimize  # type: ignore[import-untyped]

    result = minimize(loss, np.zeros(dim), args=(data, l2), jac=True, method="L-BFGS-B")
    return np.asarray(result.x)


def hits(w: np.ndarray, data: Sequence[Group], k: int) -> float:
    found = 0
    for x, y in data:
        order = np.argsort(-(x @ w), kind="stable")[:k]
        found += bool(y[order].any())
    return round(found / max(len(data), 1), 4)


def blend(fitted: np.ndarray, prior: np.ndarray, alpha: float) -> np.ndarray:
    """``alpha`` of the fitted weights plus the rest of the prior ones, scaled alike."""
    scale = np.linalg.norm(fitted) / max(float(np.linalg.norm(prior)), 1e-9)
    return alpha * fitted + (1 - alpha) * prior * scale


def evaluate(
    data: list[Group], dim: int, l2: float, prior: np.ndarray, *, alpha: float, folds: int = 5
) -> dict[str, float]:
    rng = np.random.default_rng(0)
    order = rng.permutation(len(data))
    at1 = at5 = 0.0
    for f in range(folds):
        test = [data[i] for i in order[f::folds]]
        train = [data[i] for i in order if i not in set(order[f::folds])]
        w = blend(fit(train, dim, l2), prior, alpha)
        at1 += hits(w, test, 1) * len(test)
        at5 += hits(w, test, 5) * len(test)
    return {"cv_hit@1": round(at1 / len(data), 4), "cv_hit@5": round(at5 / len(data), 4)}


def level_report(
    data: list[Group],
    names: Sequence[str],
    current: Mapping[str, float],
    l2: float,
    alpha: float,
) -> dict[str, Any]:
    dim = len(names)
    now = np.array([current.get(n, 0.0) for n in names])
    start = np.array([PRIOR_FILE_WEIGHTS.get(n, 0.0) for n in names]) if alpha < 1 else now
    w = blend(fit(data, dim, l2), start, alpha)
    return {
        "instances": len(data),
        "l2": l2,
        "blend": alpha,
        "current": {"hit@1": hits(now, data, 1), "hit@5": hits(now, data, 5)},
        "fitted_in_sample": {"hit@1": hits(w, data, 1), "hit@5": hits(w, data, 5)},
        **evaluate(data, dim, l2, start, alpha=alpha),
        "weights": {n: round(float(v), 3) for n, v in zip(names, w, strict=True)},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dump", type=Path, nargs="+", help="feature dumps of the development split")
    parser.add_argument("--l2", type=float, default=0.01, help="L2 penalty (definitions)")
    parser.add_argument("--file-l2", type=float, default=0.1, help="L2 penalty (files)")
    parser.add_argument(
        "--file-blend",
        type=float,
        default=0.5,
        help="share of the fitted file weights mixed with the current ones (1: fitted only)",
    )
    args = parser.parse_args(argv)
    records = [
        json.loads(line) for dump in args.dump for line in dump.read_text().splitlines() if line
    ]
    report = {
        "files": level_report(
            groups(records, "files", FILE_FEATURES),
            FILE_FEATURES,
            FILE_WEIGHTS,
            args.file_l2,
            args.file_blend,
        ),
        "symbols": level_report(
            groups(records, "symbols", SYMBOL_FEATURES),
            SYMBOL_FEATURES,
            SYMBOL_WEIGHTS,
            args.l2,
            1.0,
        ),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
