"""The intent router with the shipped head over the bundled MiniLM (real model, no network)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from patchloop.config import Config, FixerSettings, Section
from patchloop.domain import Task
from patchloop.errors import UsageError
from patchloop.route import (
    INTENTS,
    IntentClassifier,
    IntentPolicy,
    IntentRouter,
    RouteSettings,
    plan_for,
    route_settings,
    should_classify,
)

MODELS = ("scripted:small", "scripted:large")
CONFIG = Config(models=MODELS)

#: Clear tasks of each intent, phrased afresh (none is in the training data).
CLEAR = {
    "failing_test": "tests/test_shipping.py::test_free_over_50 fails, please make it pass",
    "crash": (
        "Traceback (most recent call last):\n"
        '  File "shop/cart.py", line 12, in total\n'
        "    return sum(p.price for p in self.items)\n"
        "AttributeError: 'NoneType' object has no attribute 'price'"
    ),
    "bug_report": "The invoice shows the wrong due date when the order is placed on the 31st",
    "lint": "ruff check reports F401 unused imports in shop/models.py",
    "performance": "Generating the sitemap takes ten minutes for 20k pages, make it faster",
    "feature": "Add support for exporting the order history as an Excel file",
    "refactor": "Split the OrderManager class into smaller classes without changing behaviour",
    "write_tests": "Write unit tests for the coupon validation module",
    "question": "How does the cart decide which shipping method is the default?",
}


def task(text: str, **changes: Any) -> Task:
    return Task(repo=Path(), description=text, **changes)


def test_shipped_head_knows_every_intent(classifier: IntentClassifier) -> None:
    assert set(classifier.intents) == set(INTENTS)
    assert classifier.head.dim == 384


@pytest.mark.parametrize("intent", sorted(CLEAR))
def test_router_plans_each_intent(
    intent: str, classifier: IntentClassifier, session_settings: RouteSettings
) -> None:
    router = IntentRouter(CONFIG, settings=session_settings, classifier=classifier)
    decision = router.decide(task(CLEAR[intent]))
    assert decision.intent == intent
    assert decision.basis == "model"
    assert decision.policy == intent
    assert decision.confidence >= session_settings.min_confidence
    assert decision.plan.intent == intent
    assert decision.plan.confidence == pytest.approx(decision.confidence, abs=1e-3)
    assert decision.plan.tiers == plan_for(intent, CONFIG, MODELS, session_settings).tiers
    assert sum(decision.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    spends_fixers = decision.plan.tiers[0].kind == "fixers"
    assert spends_fixers == (intent in {"failing_test", "crash", "bug_report", "lint"})
    assert router.plan(task(CLEAR[intent])) == decision.plan


def test_classify_many_matches_classify(classifier: IntentClassifier) -> None:
    texts = [CLEAR["feature"], CLEAR["question"]]
    many = classifier.classify_many(texts)
    one = [classifier.classify(t) for t in texts]
    assert [p.intent for p in many] == ["feature", "question"]
    for a, b in zip(many, one, strict=True):
        assert a.confidence == pytest.approx(b.confidence, abs=1e-4)


def test_empty_text_is_a_usage_error(classifier: IntentClassifier) -> None:
    with pytest.raises(UsageError, match="empty task description"):
        classifier.classify("  \n ")
    with pytest.raises(UsageError):
        classifier.classify_many(["add a flag", ""])


def test_unsure_prediction_plans_every_tier(
    classifier: IntentClassifier, session_settings: RouteSettings
) -> None:
    strict = session_settings.model_copy(update={"min_confidence": 1.0})
    router = IntentRouter(CONFIG, settings=strict, classifier=classifier)
    decision = router.decide(task(CLEAR["question"]))
    assert decision.intent == "question"
    assert decision.basis == "low_confidence"
    assert decision.policy == "default"
    assert [t.name for t in decision.plan.tiers] == ["fixers", *MODELS]
    assert decision.plan.intent == "question"


def test_configured_override_shapes_the_routed_plan(
    classifier: IntentClassifier, session_settings: RouteSettings
) -> None:
    settings = session_settings.model_copy(
        update={"intents": {"crash": IntentPolicy(fixers=False, models="largest")}}
    )
    router = IntentRouter(CONFIG, settings=settings, classifier=classifier)
    plan = router.plan(task(CLEAR["crash"]))
    assert [t.name for t in plan.tiers] == ["scripted:large"]


def test_no_description_plans_failing_tests_without_the_model() -> None:
    router = IntentRouter(CONFIG)
    decision = router.decide(task("", tests=("test_a.py::test_b",)))
    assert (decision.intent, decision.basis, decision.confidence) == (
        "failing_test",
        "no_description",
        1.0,
    )
    assert [t.name for t in decision.plan.tiers] == ["fixers", *MODELS]
    assert router._classifier is None


def test_nothing_to_decide_without_models_or_when_disabled() -> None:
    no_models = IntentRouter(Config(models=()))
    decision = no_models.decide(task(CLEAR["feature"]))
    assert decision.basis == "no_models"
    assert [t.name for t in decision.plan.tiers] == ["fixers"]
    off = IntentRouter(CONFIG, settings=RouteSettings(enabled=False))
    decision = off.decide(task(CLEAR["feature"]))
    assert decision.basis == "disabled"
    assert [t.name for t in decision.plan.tiers] == ["fixers", *MODELS]
    assert no_models._classifier is None
    assert off._classifier is None
    assert not should_classify(Config(models=()), task("x"), ())
    assert not should_classify(CONFIG, task(" "), MODELS)
    assert should_classify(CONFIG, task("x"), MODELS)


def test_no_models_and_no_fixers_is_the_loops_usage_error() -> None:
    bare = Config(models=(), fixers=FixerSettings(enabled=False))
    with pytest.raises(UsageError, match="no tier"):
        IntentRouter(bare).plan(task(CLEAR["crash"]))


CHEAP = """
import json, sys
from pathlib import Path
from patchloop.config import Config
from patchloop.domain import Task
from patchloop.route import IntentRouter
plan = IntentRouter(Config(models=())).plan(Task(repo=Path(), description="add a --json flag"))
names = ("torch", "onnxruntime", "numpy", "transformers", "sklearn")
heavy = [m for m in names if m in sys.modules]
print(json.dumps({"tiers": [t.name for t in plan.tiers], "heavy": heavy}))
"""


def test_cheap_path_imports_no_model_library() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHEAP], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout) == {"tiers": ["fixers"], "heavy": []}


def test_route_section_of_a_config_is_used() -> None:
    class RoutedConfig(Config):
        route: RouteSettings = RouteSettings()

    config = RoutedConfig(models=MODELS, route=RouteSettings(min_confidence=0.9))
    assert route_settings(config).min_confidence == 0.9
    assert IntentRouter(config).settings.min_confidence == 0.9
    assert route_settings(Config()) == RouteSettings()


class _Policy(Section):
    """A second declaration of the policy section, as the configuration module may hold."""

    fixers: bool | None = None
    models: str | tuple[str, ...] = "all"
    max_iterations: int | None = None


class _Route(Section):
    min_confidence: float = 0.4
    intents: dict[str, _Policy] = Field(default_factory=dict)


def test_route_section_declared_elsewhere_keeps_override_semantics() -> None:
    class OtherConfig(Config):
        route: _Route = _Route()

    config = OtherConfig(
        models=MODELS,
        route=_Route.model_validate({"intents": {"question": {"fixers": True}}}),
    )
    settings = route_settings(config)
    plan = plan_for("question", config, MODELS, settings)
    # only fixers was set: the built-in cheapest model and single iteration remain
    assert [(t.name, t.max_iterations) for t in plan.tiers] == [
        ("fixers", 300),
        ("scripted:small", 1),
    ]


MISSING = """
import json, sys
sys.modules["onnxruntime"] = None  # as if the package were not installed
from pathlib import Path
from patchloop.config import Config
from patchloop.domain import Task
from patchloop.errors import UsageError
from patchloop.route import IntentRouter, RouteSettings, load_classifier
config = Config(models=("scripted:a",))
decision = IntentRouter(config).decide(Task(repo=Path(), description="add a --json flag"))
try:
    load_classifier(RouteSettings(models_dir=sys.argv[1]))
    error = None
except UsageError as exc:
    error = str(exc)
print(json.dumps({"decision": decision.model_dump(mode="json"), "error": error}))
"""


def test_missing_embedding_package_plans_every_tier(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", MISSING, str(tmp_path / "models")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout)
    decision = result["decision"]
    assert decision["basis"] == "unavailable"
    assert "onnxruntime" in decision["note"]
    assert [t["name"] for t in decision["plan"]["tiers"]] == ["fixers", "scripted:a"]
    assert "'onnxruntime'" in result["error"]
    assert "route.enabled = false" in result["error"]
