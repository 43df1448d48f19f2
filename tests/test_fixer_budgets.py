"""Budgets of the model-free tier stop its search: the real loop on a temporary git repository."""

from __future__ import annotations

from pathlib import Path

from patchloop.config import Config, FixerSettings
from patchloop.domain import RunRecord, Task
from patchloop.loop import repair
from patchloop.models.scripted import ScriptedModel
from tests.conftest import FIX_REPLY


def fixers_only(calc_repo: Path, *, max_candidates: int, max_seconds: float) -> RunRecord:
    """Repair ``calc_repo`` with the model-free tier alone, under the given budgets."""
    budgets = FixerSettings(max_candidates=max_candidates, max_seconds=max_seconds)
    config = Config(models=(), fixers=budgets)
    return repair(Task(repo=calc_repo), config, models=[])


def test_without_a_tight_budget_the_fix_is_not_among_the_first_two_candidates(
    calc_repo: Path,
) -> None:
    # The premise of the budget tests below: two candidates are not enough for this bug.
    record = fixers_only(calc_repo, max_candidates=300, max_seconds=120.0)
    assert record.status == "verified"
    assert len(record.attempts) > 2
    assert {a.tier for a in record.attempts} == {"fixers"}
    assert [a.status for a in record.attempts[:2]] == ["tests_failed", "tests_failed"]


def test_max_candidates_stops_the_tier_after_that_many_attempts(calc_repo: Path) -> None:
    record = fixers_only(calc_repo, max_candidates=2, max_seconds=120.0)

    assert record.status == "not_fixed"
    assert record.stop_reason == "iterations"
    assert [(a.tier, a.iteration, a.status) for a in record.attempts] == [
        ("fixers", 1, "tests_failed"),
        ("fixers", 2, "tests_failed"),
    ]
    assert all(a.label for a in record.attempts)  # each names its template and line
    assert record.plan is not None
    assert [(t.name, t.max_iterations) for t in record.plan.tiers] == [("fixers", 2)]


def test_a_spent_candidate_budget_escalates_to_the_next_tier(calc_repo: Path) -> None:
    model = ScriptedModel([FIX_REPLY], name="scripted:a")
    config = Config(
        models=("scripted:a",),
        max_iterations=1,
        fixers=FixerSettings(max_candidates=2, max_seconds=120.0),
    )

    record = repair(Task(repo=calc_repo), config, models=[model])

    assert record.status == "verified"
    assert [(a.tier, a.status) for a in record.attempts] == [
        ("fixers", "tests_failed"),
        ("fixers", "tests_failed"),
        ("scripted:a", "verified"),
    ]
    assert len(model.history) == 1


def test_max_seconds_stops_the_tier_with_tier_time(calc_repo: Path) -> None:
    # A millisecond is spent before the first candidate's tests finish: at most that one runs.
    record = fixers_only(calc_repo, max_candidates=300, max_seconds=0.001)

    assert record.status == "not_fixed"
    assert record.stop_reason == "tier_time"
    assert len(record.attempts) <= 1
    assert all(a.tier == "fixers" and a.status != "verified" for a in record.attempts)


def test_a_spent_tier_time_ends_only_that_tier(calc_repo: Path) -> None:
    model = ScriptedModel([FIX_REPLY], name="scripted:a")
    config = Config(
        models=("scripted:a",),
        max_iterations=1,
        fixers=FixerSettings(max_candidates=300, max_seconds=0.001),
    )

    record = repair(Task(repo=calc_repo), config, models=[model])

    assert record.status == "verified"
    assert record.stop_reason == "verified"
    tiers = [a.tier for a in record.attempts]
    assert tiers[-1] == "scripted:a"
    assert tiers.count("fixers") <= 1
    assert len(model.history) == 1
