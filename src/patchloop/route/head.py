"""The classifier head: a logistic regression over sentence embeddings, stored as plain JSON.

JSON, not pickle: loading runs no code, and a retrained head diffs like any data file. A head
names the embedding function and text preprocessing it was trained with; a head is only used
with the same ones, since its coefficients mean nothing in another embedding space.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from patchloop.domain import Scalar
from patchloop.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "HEAD_FORMAT",
    "SHIPPED_HEAD",
    "IntentHead",
    "check_compatible",
    "load_head",
    "softmax_scores",
]

HEAD_FORMAT = "patchloop-intent-head/1"
SHIPPED_HEAD = Path(__file__).parent / "data" / "head.json"
"""The head trained on the shipped data set (``patchloop route train``)."""

_RETRAIN = "retrain it with: patchloop route train DATA.jsonl --out PATH (and set route.head)"


class IntentHead(BaseModel):
    """Multinomial logistic regression: ``softmax(x @ coef.T + intercept)`` over ``classes``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["patchloop-intent-head/1"] = "patchloop-intent-head/1"
    embedding_model: str
    """Key of the embedding function (model, weights version, length, pooling)."""
    preprocess: str
    """Name of the text preprocessing (:data:`patchloop.route.text.PREPROCESS`)."""
    classes: tuple[str, ...]
    coef: tuple[tuple[float, ...], ...]
    """One row of ``dim`` weights per class."""
    intercept: tuple[float, ...]
    training: dict[str, Scalar] = {}
    """Provenance: examples, data digest, regularisation, library versions."""

    @model_validator(mode="after")
    def _shapes(self) -> IntentHead:
        n = len(self.classes)
        if n < 2 or len(set(self.classes)) != n:
            raise ValueError("classes must name at least two distinct intents")
        if len(self.coef) != n or len(self.intercept) != n:
            raise ValueError(f"{n} classes need {n} coefficient rows and {n} intercepts")
        if len({len(row) for row in self.coef}) != 1 or not self.coef[0]:
            raise ValueError("coefficient rows differ in length")
        values = [v for row in self.coef for v in row] + list(self.intercept)
        if not all(math.isfinite(v) for v in values):
            raise ValueError("coefficients must be finite numbers")
        return self

    @property
    def dim(self) -> int:
        """Length of the embeddings the head reads."""
        return len(self.coef[0])

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients ``(classes, dim)`` and intercepts ``(classes,)`` as float32 arrays."""
        import numpy as np

        return (
            np.asarray(self.coef, dtype=np.float32),
            np.asarray(self.intercept, dtype=np.float32),
        )

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """``(len(vectors), len(classes))`` class probabilities of embedding rows."""
        return softmax_scores(vectors, *self.arrays())

    def save(self, path: Path) -> None:
        """Write the head as JSON (atomically: a reader never sees half a file)."""
        data = self.model_dump(mode="json")
        # one line per key and per coefficient row: small diffs, readable headers
        parts = []
        for key, value in data.items():
            if key == "coef":
                rows = ",\n  ".join(json.dumps(row) for row in value)
                parts.append(f'  "coef": [\n  {rows}\n  ]')
            else:
                parts.append(f"  {json.dumps(key)}: {json.dumps(value, sort_keys=True)}")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("{\n" + ",\n".join(parts) + "\n}\n", encoding="utf-8")
        tmp.replace(path)


def softmax_scores(vectors: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``vectors @ weights.T + bias``."""
    import numpy as np

    logits = vectors @ weights.T + bias
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    result: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
    return result


def load_head(path: Path | None = None) -> IntentHead:
    """The head at ``path``, or the shipped one."""
    where = path or SHIPPED_HEAD
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot read the intent head {where}: {exc.strerror or exc}",
            hint="fix route.head, or unset it to use the shipped head",
        ) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"intent head {where} is not JSON: {exc}", hint=_RETRAIN) from exc
    try:
        return IntentHead.model_validate(data)
    except ValidationError as exc:
        problem = exc.errors()[0]
        key = ".".join(str(p) for p in problem["loc"]) or "head"
        raise ConfigError(
            f"intent head {where} is not a valid {HEAD_FORMAT} file: {key}: {problem['msg']}",
            hint=_RETRAIN,
        ) from exc


def check_compatible(
    head: IntentHead, *, embedding_model: str, preprocess: str, dim: int, where: str
) -> None:
    """Refuse a head trained for another embedding function, preprocessing or dimension."""
    if head.embedding_model != embedding_model:
        raise ConfigError(
            f"intent head {where} was trained on {head.embedding_model!r} embeddings, "
            f"but this installation embeds with {embedding_model!r}",
            hint=_RETRAIN,
        )
    if head.preprocess != preprocess:
        raise ConfigError(
            f"intent head {where} was trained on {head.preprocess!r} text, "
            f"but this version prepares text as {preprocess!r}",
            hint=_RETRAIN,
        )
    if head.dim != dim:
        raise ConfigError(
            f"intent head {where} reads {head.dim}-dimensional embeddings, not {dim}",
            hint=_RETRAIN,
        )
