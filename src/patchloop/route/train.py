"""Fit the classifier head on labelled examples (scikit-learn, only needed for training)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from patchloop.errors import UsageError
from patchloop.route.dataset import Example, check_trainable, data_digest, read_examples
from patchloop.route.head import IntentHead
from patchloop.route.settings import RouteSettings
from patchloop.route.text import PREPROCESS, condense

if TYPE_CHECKING:
    import numpy as np

    from patchloop.index.embed import Embedder

__all__ = [
    "DEFAULT_C",
    "bulk_embedder",
    "embed_examples",
    "fit_logistic",
    "train_file",
    "train_head",
]

DEFAULT_C = 2.0
"""Inverse regularisation strength of the logistic regression (chosen by cross-validation on
the shipped data set, ``bench/router_bench.py``)."""


def embed_examples(examples: Sequence[Example], embedder: Embedder) -> np.ndarray:
    """Embeddings of the condensed example texts, in order."""
    return embedder.embed([condense(e.text) for e in examples])


def fit_logistic(vectors: np.ndarray, labels: Sequence[str], *, c: float = DEFAULT_C) -> Any:
    """A fitted multinomial ``LogisticRegression`` (classes weighted to balance)."""
    try:
        from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    except ImportError as exc:
        raise UsageError(
            "training the intent head needs scikit-learn", hint="pip install scikit-learn"
        ) from exc
    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
    return model.fit(vectors, list(labels))


def _short(value: float) -> float:
    """Six significant digits: plenty for a linear head, and a readable file."""
    return float(f"{value:.6g}")


def train_head(
    examples: Sequence[Example],
    embedder: Embedder,
    *,
    c: float = DEFAULT_C,
    source: str = "<data>",
) -> IntentHead:
    """A head fitted on all ``examples``, recording the embedding function it belongs to."""
    counts = check_trainable(examples, source)
    model = fit_logistic(embed_examples(examples, embedder), [e.intent for e in examples], c=c)
    import sklearn  # type: ignore[import-untyped]

    coef = [list(row) for row in model.coef_]
    intercept = list(model.intercept_)
    if len(model.classes_) == 2:
        # a binary model scores the second class only; softmax over (0, score) is its sigmoid
        coef = [[0.0] * len(coef[0]), coef[0]]
        intercept = [0.0, intercept[0]]
    return IntentHead(
        embedding_model=embedder.key,
        preprocess=PREPROCESS,
        classes=tuple(str(label) for label in model.classes_),
        coef=tuple(tuple(_short(v) for v in row) for row in coef),
        intercept=tuple(_short(v) for v in intercept),
        training={
            "examples": len(examples),
            "intents": len(counts),
            "data_sha256": data_digest(examples),
            "C": c,
            "backend": embedder.backend,
            "sklearn": sklearn.__version__,
        },
    )


def bulk_embedder(settings: RouteSettings) -> Embedder:
    """The embedder of ``settings`` with every core, for embedding a whole data set."""
    from patchloop.route.classifier import load_embedder_for

    return load_embedder_for(settings, threads=None)


def train_file(
    data: Path, out: Path, settings: RouteSettings, *, c: float = DEFAULT_C
) -> IntentHead:
    """Train a head on the JSONL file ``data`` and write it to ``out``."""
    examples = read_examples(data)
    head = train_head(examples, bulk_embedder(settings), c=c, source=str(data))
    head.save(out)
    return head
