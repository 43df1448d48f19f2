"""Plans by intent and their configuration overrides (pure: no model is loaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.config import Config, FixerSettings
from patchloop.domain import Task, TierPlan
from patchloop.errors import ConfigError, UsageError
from patchloop.planning import default_plan
from patchloop.route import (
    INTENTS,
    DefaultRouter,
    IntentPolicy,
    RouteSettings,
    effective_policy,
    plan_for,
)

MODELS = ("scripted:small", "scripted:medium", "scripted:large")
CONFIG = Config(models=MODELS, max_iterations=4)


Row = tuple[str, int, float | None]


def tiers(intent: str, config: Config = CONFIG, settings: RouteSettings | None = None) -> list[Row]:
    plan = plan_for(intent, config, config.models, settings or RouteSettings())
    assert plan.intent == intent
    return [(t.name, t.max_iterations, t.max_seconds) for t in plan.tiers]


FULL_MODELS = [(m, 4, None) for m in MODELS]


@pytest.mark.parametrize(
    ("intent", "expected"),
    [
        ("failing_test", [("fixers", 300, 120.0), *FULL_MODELS]),
        ("crash", [("fixers", 300, 120.0), *FULL_MODELS]),
        ("lint", [("fixers", 300, 120.0), *FULL_MODELS]),
        ("bug_report", [("fixers", 100, 60.0), *FULL_MODELS]),
        ("performance", FULL_MODELS),
        ("feature", FULL_MODELS),
        ("refactor", FULL_MODELS),
        ("write_tests", FULL_MODELS),
        ("question", [("scripted:small", 1, None)]),
    ],
)
def test_plan_of_each_intent(intent: str, expected: list[Row]) -> None:
    assert tiers(intent) == expected


def test_every_known_intent_has_a_tested_plan() -> None:
    # a new intent must get a policy decision and a row in the table above
    assert set(INTENTS) == {
        "failing_test",
        "crash",
        "lint",
        "bug_report",
        "performance",
        "feature",
        "refactor",
        "write_tests",
        "question",
    }


def test_models_run_cheapest_first() -> None:
    plan = plan_for("feature", CONFIG, MODELS, RouteSettings())
    assert [t.name for t in plan.tiers] == list(MODELS)
    assert all(t.kind == "model" for t in plan.tiers)


def test_default_policy_is_the_loops_default_plan() -> None:
    mine = plan_for("default", CONFIG, MODELS, RouteSettings())
    assert mine.tiers == default_plan(CONFIG, MODELS).tiers
    routed = DefaultRouter(CONFIG).plan(Task(repo=Path(), description="add a flag"))
    assert routed.tiers == default_plan(CONFIG, MODELS).tiers


def test_unknown_intent_from_a_retrained_head_gets_every_tier() -> None:
    assert tiers("docs") == [("fixers", 300, 120.0), *FULL_MODELS]


def test_builtin_budgets_never_exceed_global_ones() -> None:
    small = CONFIG.model_copy(
        update={"fixers": FixerSettings(max_candidates=40, max_seconds=30.0), "max_iterations": 2}
    )
    assert tiers("bug_report", small)[0] == ("fixers", 40, 30.0)
    assert tiers("crash", small)[0] == ("fixers", 40, 30.0)
    assert tiers("question", small) == [("scripted:small", 1, None)]
    assert tiers("feature", small)[0] == ("scripted:small", 2, None)


def test_global_switch_keeps_the_model_free_tier_off() -> None:
    off = CONFIG.model_copy(update={"fixers": FixerSettings(enabled=False)})
    assert tiers("crash", off) == FULL_MODELS
    forced = RouteSettings(intents={"crash": IntentPolicy(fixers=True)})
    assert tiers("crash", off, forced) == FULL_MODELS


def test_override_replaces_only_the_fields_it_sets() -> None:
    settings = RouteSettings(intents={"question": IntentPolicy(fixers=True)})
    # models="cheapest" and max_iterations=1 still come from the built-in policy
    assert tiers("question", settings=settings) == [
        ("fixers", 300, 120.0),
        ("scripted:small", 1, None),
    ]


def test_override_budgets_are_taken_as_given() -> None:
    settings = RouteSettings(
        intents={
            "bug_report": IntentPolicy(max_candidates=500, fixer_seconds=10.0),
            "feature": IntentPolicy(
                models="largest", max_iterations=9, model_seconds=600.0, adapter="feat-lora"
            ),
        }
    )
    assert tiers("bug_report", settings=settings)[0] == ("fixers", 500, 10.0)
    plan = plan_for("feature", CONFIG, MODELS, settings)
    assert plan.tiers == (
        TierPlan(
            name="scripted:large",
            kind="model",
            max_iterations=9,
            max_seconds=600.0,
            adapter="feat-lora",
        ),
    )


def test_model_list_keeps_configured_order_and_ignores_unknown() -> None:
    settings = RouteSettings(
        intents={"refactor": IntentPolicy(models=("scripted:large", "other:x", "scripted:small"))}
    )
    assert [t[0] for t in tiers("refactor", settings=settings)] == [
        "scripted:small",
        "scripted:large",
    ]


def test_model_list_naming_no_configured_model_is_a_config_error() -> None:
    settings = RouteSettings(intents={"refactor": IntentPolicy(models=("other:x",))})
    with pytest.raises(ConfigError, match=r"route\.intents\.refactor\.models") as caught:
        tiers("refactor", settings=settings)
    assert caught.value.hint is not None
    assert "scripted:small" in caught.value.hint


def test_override_of_the_default_policy() -> None:
    settings = RouteSettings(intents={"default": IntentPolicy(max_iterations=2)})
    assert tiers("default", settings=settings)[1] == ("scripted:small", 2, None)


def test_plan_without_any_tier_is_a_usage_error() -> None:
    no_models = Config(models=())
    with pytest.raises(UsageError, match="has no tier"):
        plan_for("feature", no_models, (), RouteSettings())


def test_effective_policy_merges_builtin_override_and_ceiling() -> None:
    settings = RouteSettings(intents={"bug_report": IntentPolicy(fixer_seconds=5.0)})
    policy = effective_policy("bug_report", settings, CONFIG)
    assert policy.fixers is True
    assert policy.max_candidates == 100
    assert policy.fixer_seconds == 5.0


def test_bad_override_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        IntentPolicy(max_iterations=-1)
    with pytest.raises(ValueError, match="Extra inputs"):
        IntentPolicy.model_validate({"max_iteration": 3})
    with pytest.raises(ValueError, match="less than or equal to 1"):
        RouteSettings(min_confidence=1.5)
