"""Trained heads as JSON files: loading, validation, and refusing foreign embeddings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from patchloop.errors import ConfigError
from patchloop.index.embed import model_key
from patchloop.route import (
    SHIPPED_DATA,
    SHIPPED_HEAD,
    IntentClassifier,
    IntentHead,
    RouteSettings,
    load_classifier,
    load_head,
    read_examples,
)
from patchloop.route.dataset import data_digest
from patchloop.route.text import PREPROCESS


def shipped_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SHIPPED_HEAD.read_text())
    return data


def write(tmp_path: Path, data: object, name: str = "head.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_shipped_head_matches_this_installation() -> None:
    head = load_head()
    assert head.embedding_model == model_key()
    assert head.preprocess == PREPROCESS
    assert head.dim == 384
    assert len(head.classes) == len(head.coef) == len(head.intercept) == 9
    assert int(str(head.training["examples"])) >= 300


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    head = load_head()
    head.save(tmp_path / "sub" / "copy.json")
    assert load_head(tmp_path / "sub" / "copy.json") == head
    assert not list((tmp_path / "sub").glob("*.tmp"))


def test_head_of_another_embedding_model_is_refused_before_loading(tmp_path: Path) -> None:
    data = shipped_data() | {"embedding_model": "bge-small-en@1.5:seq512:cls"}
    path = write(tmp_path, data)
    settings = RouteSettings(head=str(path), models_dir=str(tmp_path / "never-made"))
    with pytest.raises(ConfigError) as caught:
        load_classifier(settings)
    message = str(caught.value)
    assert "bge-small-en@1.5:seq512:cls" in message
    assert model_key() in message
    assert "patchloop route train" in message
    # refused before any embedding model was loaded or exported
    assert not (tmp_path / "never-made").exists()


def test_classifier_refuses_mismatched_head(classifier: IntentClassifier) -> None:
    other = classifier.head.model_copy(update={"embedding_model": "other-model@2"})
    with pytest.raises(ConfigError, match="'other-model@2' embeddings"):
        IntentClassifier(other, classifier.embedder)
    prepared = classifier.head.model_copy(update={"preprocess": "raw"})
    with pytest.raises(ConfigError, match="'raw' text"):
        IntentClassifier(prepared, classifier.embedder)


def test_wrong_dimension_is_refused(classifier: IntentClassifier) -> None:
    small = IntentHead(
        embedding_model=classifier.head.embedding_model,
        preprocess=PREPROCESS,
        classes=("a", "b"),
        coef=((0.1, 0.2), (0.3, 0.4)),
        intercept=(0.0, 0.0),
    )
    with pytest.raises(ConfigError, match="2-dimensional"):
        IntentClassifier(small, classifier.embedder)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"classes": ["a"]}, "at least two distinct intents"),
        ({"intercept": [0.0]}, "coefficient rows"),
        ({"format": "pickle"}, "format"),
        ({"coef": "nope"}, "coef"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_invalid_head_file_is_a_config_error(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    path = write(tmp_path, shipped_data() | change)
    with pytest.raises(ConfigError, match=message) as caught:
        load_head(path)
    assert str(path) in str(caught.value)


def test_non_finite_coefficients_are_refused(tmp_path: Path) -> None:
    data = shipped_data()
    data["coef"][0][0] = "NaN"
    with pytest.raises(ConfigError, match="finite"):
        load_head(write(tmp_path, data))


def test_missing_or_non_json_head(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the intent head"):
        load_head(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="is not JSON"):
        load_head(bad)


def test_shipped_head_was_trained_on_the_shipped_data() -> None:
    # an edited data set needs a retrained head: patchloop route train ... --out head.json
    examples = read_examples(SHIPPED_DATA)
    assert load_head().training["data_sha256"] == data_digest(examples)
    assert load_head().training["examples"] == len(examples)
