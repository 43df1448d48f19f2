"""Several models, or one model in several formats, asked in the same iteration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from patchloop.config import Config, FixerSettings, SearchSettings
from patchloop.domain import Task
from patchloop.errors import ConfigError
from patchloop.loop import repair
from patchloop.models.scripted import ScriptedModel
from patchloop.replay import replay_run
from patchloop.store import RunStore
from tests.conftest import FIX_REPLY

WRONG_REPLY = FIX_REPLY.replace("return high", "return value")
JSON_FIX = json.dumps(
    {
        "edits": [
            {
                "path": "calc.py",
                "search": "    if value > high:\n        return low\n",
                "replace": "    if value > high:\n        return high\n",
            }
        ],
        "run_tests": True,
        "explanation": "clamp returned the lower bound above the range",
    }
)


def config(**search: Any) -> Config:
    return Config(
        models=("scripted:a", "scripted:b"),
        max_iterations=2,
        fixers=FixerSettings(enabled=False),
        search=SearchSettings(**search),
    )


def where(record: Any) -> list[tuple[int, str, str, str]]:
    return [(a.iteration, a.tier, a.edit_format, a.status) for a in record.attempts]


def test_ensemble_asks_every_model_in_the_same_iteration(calc_repo: Path) -> None:
    a = ScriptedModel([WRONG_REPLY, WRONG_REPLY], name="scripted:a")
    b = ScriptedModel([FIX_REPLY], name="scripted:b")
    record = repair(Task(repo=calc_repo), config(mode="ensemble"), models=[a, b])
    assert record.status == "verified"
    # Both models answered in iteration 1; b's candidate (the smaller) was tested first and won.
    assert where(record) == [
        (1, "scripted:a", "search-replace", "not_run"),
        (1, "scripted:b", "search-replace", "verified"),
    ]
    assert len(a.history) == 1
    assert len(b.history) == 1


def test_cascade_asks_the_second_model_only_after_the_first(calc_repo: Path) -> None:
    a = ScriptedModel([WRONG_REPLY, WRONG_REPLY], name="scripted:a")
    b = ScriptedModel([FIX_REPLY], name="scripted:b")
    record = repair(Task(repo=calc_repo), config(), models=[a, b])
    assert [(i, t) for i, t, _, _ in where(record)] == [
        (1, "scripted:a"),
        (2, "scripted:a"),
        (1, "scripted:b"),
    ]


def test_a_model_asked_in_two_formats_in_one_iteration(calc_repo: Path) -> None:
    a = ScriptedModel([WRONG_REPLY, JSON_FIX], name="scripted:a")
    settings = config(formats=("json",)).model_copy(update={"models": ("scripted:a",)})
    record = repair(Task(repo=calc_repo), settings, models=[a])
    assert record.status == "verified"
    assert where(record) == [
        (1, "scripted:a", "search-replace", "not_run"),
        (1, "scripted:a", "json", "verified"),
    ]
    # Each request carries its own format's instructions.
    first, second = (r.messages[0].content for r in a.history)
    assert "<<<<<<< SEARCH" in first
    assert "<<<<<<< SEARCH" not in second
    assert "# Edit format: JSON" in second


def test_each_member_keeps_its_own_conversation(calc_repo: Path) -> None:
    a = ScriptedModel([WRONG_REPLY, WRONG_REPLY], name="scripted:a")
    b = ScriptedModel(["I would change clamp.", FIX_REPLY], name="scripted:b")
    record = repair(Task(repo=calc_repo), config(mode="ensemble"), models=[a, b])
    assert record.status == "verified"
    assert [a.iteration for a in record.attempts] == [1, 1, 2, 2]
    a_second, b_second = a.history[1].messages, b.history[1].messages
    assert a_second[-2].content == WRONG_REPLY
    assert b_second[-2].content == "I would change clamp."
    # b is told about its own reply (no edits), a about its failing test.
    assert "test_clamp" in a_second[-1].content


def test_a_member_whose_model_fails_leaves_and_the_others_are_judged(calc_repo: Path) -> None:
    a = ScriptedModel([{"raise": "ModelUnavailable"}], name="scripted:a")
    b = ScriptedModel([WRONG_REPLY, FIX_REPLY], name="scripted:b")
    record = repair(Task(repo=calc_repo), config(mode="ensemble"), models=[a, b])
    assert record.status == "verified"
    assert [(i, t) for i, t, _, _ in where(record)] == [(1, "scripted:b"), (2, "scripted:b")]
    assert len(a.history) == 1  # not asked again


def test_when_every_member_fails_the_iteration_fails(calc_repo: Path) -> None:
    a = ScriptedModel([{"raise": "ModelUnavailable"}], name="scripted:a")
    b = ScriptedModel([{"raise": "ModelUnavailable"}], name="scripted:b")
    record = repair(Task(repo=calc_repo), config(mode="ensemble"), models=[a, b])
    assert record.status == "not_fixed"
    assert record.stop_reason == "model_error"


def test_an_unknown_format_is_a_config_error_before_any_work(calc_repo: Path) -> None:
    a = ScriptedModel([FIX_REPLY], name="scripted:a")
    for formats, said in (("jsonn",), "jsonn"), (("auto",), "auto"):
        with pytest.raises(ConfigError, match=said):
            repair(Task(repo=calc_repo), config(formats=formats), models=[a])
    assert not (calc_repo / ".patchloop" / "runs").exists()
    assert not a.history


def test_replay_reproduces_an_ensemble(calc_repo: Path) -> None:
    a = ScriptedModel([WRONG_REPLY], name="scripted:a")
    b = ScriptedModel([FIX_REPLY], name="scripted:b")
    record = repair(Task(repo=calc_repo), config(mode="ensemble"), models=[a, b])
    result = replay_run(RunStore(calc_repo / ".patchloop"), record.id)
    assert result.same, result.differences
    assert where(result.replay) == where(record)
