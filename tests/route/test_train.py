"""Retraining a head from labelled JSONL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patchloop.config import Config
from patchloop.domain import Task
from patchloop.errors import UsageError
from patchloop.route import IntentRouter, RouteSettings, load_classifier, load_head
from patchloop.route.train import train_file

SMALL = {
    "docs": [
        "Document the configuration options in the README",
        "The API reference lacks a page for the export module",
        "Write a tutorial page about getting started",
        "Fix typos in the installation guide",
        "Add docstrings to the public functions of the parser",
        "Update the changelog for the 2.0 release",
    ],
    "crash": [
        "ZeroDivisionError in average() for an empty list",
        "KeyError: 'id' raised when the payload has no id",
        "the app crashes with AttributeError: 'NoneType' object has no attribute 'name'",
        "IndexError: list index out of range in first_row()",
        "TypeError: unsupported operand type(s) for +: 'int' and 'str' in total()",
        "ValueError: invalid literal for int() with base 10 when parsing the age",
    ],
    "feature": [
        "Add a --verbose flag to the command line",
        "Support YAML configuration files",
        "Allow exporting reports as PDF",
        "Add pagination to the list endpoint",
        "Let users choose a dark theme",
        "Add an option to skip archived items",
    ],
}


def write_data(path: Path) -> Path:
    rows = [{"text": t, "intent": i} for i, texts in SMALL.items() for t in texts]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_retrained_head_loads_and_routes(tmp_path: Path, session_settings: RouteSettings) -> None:
    out = tmp_path / "heads" / "mine.json"
    head = train_file(write_data(tmp_path / "data.jsonl"), out, session_settings)
    assert head.classes == ("crash", "docs", "feature")
    assert head.training["examples"] == 18
    assert load_head(out) == head
    settings = session_settings.model_copy(update={"head": str(out), "min_confidence": 0.0})
    classifier = load_classifier(settings)
    assert classifier.classify("Document how to install the plugin").intent == "docs"
    assert classifier.classify("Add a flag to print the version").intent == "feature"
    # an intent without a built-in policy gets every tier
    router = IntentRouter(Config(models=("scripted:a",)), settings=settings, classifier=classifier)
    decision = router.decide(Task(repo=tmp_path, description="Explain the options in the docs"))
    assert decision.intent == "docs"
    assert [t.name for t in decision.plan.tiers] == ["fixers", "scripted:a"]


def test_malformed_training_line_names_its_number(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data.jsonl")
    lines = data.read_text().splitlines()
    lines.insert(3, '{"text": "oops", "intent": }')
    data.write_text("\n".join(lines) + "\n")
    with pytest.raises(UsageError, match=r"data\.jsonl:4: not valid JSON"):
        train_file(data, tmp_path / "out.json", RouteSettings())
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize("intents", [("docs", "crash"), ("docs", "crash", "feature")])
def test_head_computes_the_fitted_models_probabilities(
    intents: tuple[str, ...], tmp_path: Path, session_settings: RouteSettings
) -> None:
    import numpy as np

    from patchloop.route.dataset import read_examples
    from patchloop.route.train import bulk_embedder, embed_examples, fit_logistic

    rows = [{"text": t, "intent": i} for i in intents for t in SMALL[i]]
    data = tmp_path / "some.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    head = train_file(data, tmp_path / "some.json", session_settings)
    assert head.classes == tuple(sorted(intents))
    assert len(head.coef) == len(intents)
    examples = read_examples(data)
    vectors = embed_examples(examples, bulk_embedder(session_settings))
    model = fit_logistic(vectors, [e.intent for e in examples])
    assert np.allclose(head.probabilities(vectors), model.predict_proba(vectors), atol=1e-4)
