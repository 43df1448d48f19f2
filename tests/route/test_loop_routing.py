"""`repair` itself routes by intent: the plan is chosen by the classifier and recorded."""

from __future__ import annotations

from pathlib import Path

from patchloop.config import Config, FixerSettings, RouteSettings
from patchloop.domain import Task
from patchloop.loop import repair
from patchloop.models.scripted import ScriptedModel
from patchloop.route import IntentClassifier
from tests.conftest import FIX_REPLY


def test_a_question_spends_one_call_of_the_cheapest_model(
    calc_repo: Path, session_settings: RouteSettings, classifier: IntentClassifier
) -> None:
    small = ScriptedModel([FIX_REPLY, FIX_REPLY], name="scripted:small")
    large = ScriptedModel([FIX_REPLY], name="scripted:large")
    config = Config(
        models=("scripted:small", "scripted:large"),
        fixers=FixerSettings(enabled=False),
        route=session_settings,
    )
    task = Task(repo=calc_repo, description="How does clamp decide which bound to return?")
    assert classifier.classify(task.description).intent == "question"
    record = repair(task, config, models=[small, large])
    assert record.plan is not None
    assert record.plan.intent == "question"
    assert [t.name for t in record.plan.tiers] == ["scripted:small"]
    assert len(small.history) == 1
    assert large.history == []


def test_a_crash_is_tried_model_free_first(
    calc_repo: Path, session_settings: RouteSettings, classifier: IntentClassifier
) -> None:
    model = ScriptedModel([FIX_REPLY], name="scripted:a")
    config = Config(models=("scripted:a",), route=session_settings)
    description = (
        "clamp() returns the wrong value for inputs above the range:\n"
        'Traceback (most recent call last):\n  File "calc.py", line 10, in clamp\n'
        "AssertionError: assert 0 == 10"
    )
    task = Task(repo=calc_repo, description=description)
    record = repair(task, config, models=[model])
    assert record.plan is not None
    assert record.plan.tiers[0].kind == "fixers"
    assert record.status == "verified"
