"""Routed plans driving the repair loop: a verified tier ends the cascade, a tier whose
patches fail verification hands over to the next (scripted models, real sandbox and pytest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.config import Config, FixerSettings
from patchloop.domain import Plan, RunRecord, Task, TierPlan
from patchloop.errors import UsageError
from patchloop.loop import repair
from patchloop.models.scripted import ScriptedModel
from patchloop.route import (
    IntentClassifier,
    IntentPolicy,
    IntentRouter,
    RouteSettings,
    fit_plan,
)
from tests.conftest import FIX_REPLY

WRONG_REPLY = FIX_REPLY.replace("return high", "return value")
OTHER_WRONG_REPLY = FIX_REPLY.replace("return high", "return value - 1")
FEATURE = "Add support for clamping to an open range in calc.clamp"
CRASH = (
    "Traceback (most recent call last):\n"
    '  File "calc.py", line 9, in clamp\n'
    "    return low\n"
    "AssertionError: clamp(50, 0, 10) returned 0, expected 10"
)
QUESTION = "Why does clamp return the lower bound for values above the range?"


def models(small: list[str], large: list[str]) -> list[ScriptedModel]:
    return [
        ScriptedModel(small, name="scripted:small"),
        ScriptedModel(large, name="scripted:large"),
    ]


def routed_repair(
    repo: Path,
    text: str,
    chosen: list[ScriptedModel],
    classifier: IntentClassifier,
    settings: RouteSettings,
    *,
    config: Config | None = None,
) -> tuple[Plan, RunRecord]:
    config = config or Config(models=tuple(m.name for m in chosen), max_iterations=3)
    router = IntentRouter(config, settings=settings, classifier=classifier)
    plan = router.plan(Task(repo=repo, description=text))
    run_config, run_models = fit_plan(config, plan, chosen)
    record = repair(Task(repo=repo, description=text), run_config, models=run_models)
    return plan, record


def test_failed_verification_escalates_to_the_next_model(
    calc_repo: Path, classifier: IntentClassifier, session_settings: RouteSettings
) -> None:
    settings = session_settings.model_copy(
        update={"intents": {"feature": IntentPolicy(max_iterations=2)}}
    )
    small, large = models([WRONG_REPLY, OTHER_WRONG_REPLY, FIX_REPLY], [FIX_REPLY])
    plan, record = routed_repair(calc_repo, FEATURE, [small, large], classifier, settings)
    assert plan.intent == "feature"
    assert [t.name for t in plan.tiers] == ["scripted:small", "scripted:large"]
    assert record.status == "verified"
    assert [(a.tier, a.iteration, a.status) for a in record.attempts] == [
        ("scripted:small", 1, "tests_failed"),
        ("scripted:small", 2, "tests_failed"),
        ("scripted:large", 1, "verified"),
    ]
    # the large model was asked only after both small attempts were verified red
    assert all(a.failing and a.failing > 0 for a in record.attempts[:2])
    assert len(small.history) == 2  # the per-intent budget, not the global 3
    assert len(large.history) == 1
    assert "They still fail" in large.history[0].messages[-1].content


def test_verified_tier_ends_the_cascade(
    calc_repo: Path, classifier: IntentClassifier, session_settings: RouteSettings
) -> None:
    small, large = models([FIX_REPLY], [FIX_REPLY])
    plan, record = routed_repair(calc_repo, FEATURE, [small, large], classifier, session_settings)
    assert len(plan.tiers) == 2
    assert record.status == "verified"
    assert [(a.tier, a.status) for a in record.attempts] == [("scripted:small", "verified")]
    assert large.history == []


def test_unparsable_reply_is_retried_in_the_same_tier(
    calc_repo: Path, classifier: IntentClassifier, session_settings: RouteSettings
) -> None:
    small, large = models(["no edits here", FIX_REPLY], [FIX_REPLY])
    _, record = routed_repair(calc_repo, FEATURE, [small, large], classifier, session_settings)
    assert [(a.tier, a.status) for a in record.attempts] == [
        ("scripted:small", "parse_error"),
        ("scripted:small", "verified"),
    ]
    assert large.history == []


def test_question_plan_spends_one_call_of_the_cheapest_model(
    calc_repo: Path, classifier: IntentClassifier, session_settings: RouteSettings
) -> None:
    small, large = models([WRONG_REPLY], [FIX_REPLY])
    plan, record = routed_repair(calc_repo, QUESTION, [small, large], classifier, session_settings)
    assert plan.intent == "question"
    assert plan.tiers == (TierPlan(name="scripted:small", kind="model", max_iterations=1),)
    assert record.status == "not_fixed"
    assert [(a.tier, a.status) for a in record.attempts] == [("scripted:small", "tests_failed")]
    assert large.history == []


def test_crash_plan_spends_the_model_free_tier_first(
    calc_repo: Path, classifier: IntentClassifier, session_settings: RouteSettings
) -> None:
    small, large = models([FIX_REPLY], [FIX_REPLY])
    config = Config(
        models=("scripted:small", "scripted:large"),
        fixers=FixerSettings(max_candidates=60, max_seconds=90.0),
    )
    plan, record = routed_repair(
        calc_repo, CRASH, [small, large], classifier, session_settings, config=config
    )
    assert plan.intent == "crash"
    assert [t.kind for t in plan.tiers] == ["fixers", "model", "model"]
    assert record.status == "verified"
    tiers = [a.tier for a in record.attempts]
    assert tiers[-1] == "fixers"
    assert set(tiers) == {"fixers"}
    assert small.history == []
    assert large.history == []


def test_fit_plan_reproduces_the_plan_in_the_loop_config() -> None:
    config = Config(models=("a", "b", "c"), max_iterations=5)
    plan = Plan(
        tiers=(
            TierPlan(name="fixers", kind="fixers", max_iterations=10, max_seconds=5.0),
            TierPlan(name="c", kind="model", max_iterations=2),
        ),
        intent="crash",
    )
    given = [ScriptedModel([], name=n) for n in ("a", "b", "c")]
    fitted, chosen = fit_plan(config, plan, given)
    assert [m.name for m in chosen] == ["c"]
    assert fitted.models == ("c",)
    assert fitted.max_iterations == 2
    assert (fitted.fixers.enabled, fitted.fixers.max_candidates, fitted.fixers.max_seconds) == (
        True,
        10,
        5.0,
    )


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        (
            (
                TierPlan(name="a", kind="model", max_iterations=2),
                TierPlan(name="b", kind="model", max_iterations=3),
            ),
            "different max_iterations",
        ),
        ((TierPlan(name="a", kind="model", max_seconds=9.0),), "own time limit"),
        ((TierPlan(name="a", kind="model", adapter="x"),), "own adapter"),
        ((TierPlan(name="zz", kind="model"),), "not given: zz"),
        (
            (TierPlan(name="a", kind="model"), TierPlan(name="fixers", kind="fixers")),
            "must come first",
        ),
    ],
)
def test_fit_plan_refuses_what_the_loop_cannot_run(
    tiers: tuple[TierPlan, ...], message: str
) -> None:
    given = [ScriptedModel([], name=n) for n in ("a", "b")]
    with pytest.raises(UsageError, match=message):
        fit_plan(Config(models=("a", "b")), Plan(tiers=tiers), given)
