"""Several candidates per iteration: merged by patch, verified cheapest first, the tests choose."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from patchloop.config import Config, FixerSettings, SearchSettings
from patchloop.domain import Edit, FileChange, Patch, Task
from patchloop.loop import repair
from patchloop.models.scripted import ScriptedModel
from patchloop.replay import replay_run
from patchloop.search import patch_key
from patchloop.store import RunStore
from tests.conftest import FIX_REPLY, AvoidingScript, BranchScript

WRONG_REPLY = FIX_REPLY.replace("return high", "return value")
SHORT_WRONG_REPLY = FIX_REPLY.replace("return high", "return 0")
FIX_WITH_SPACES = FIX_REPLY.replace("return high\n", "return high   \n")
BIGGER_FIX = FIX_REPLY.replace(
    "    if value > high:\n        return high\n",
    "    if value > high:\n        # the upper bound\n        return high\n",
)
BREAKS_ADD = (
    "calc.py\n<<<<<<< SEARCH\ndef add(a, b):\n    return a + b\n=======\n"
    "def add(a, b):\n    return a - b\n>>>>>>> REPLACE\n" + FIX_REPLY
)
NOT_A_REPLY = "I would change the clamp function."


def config(samples: int, **changes: Any) -> Config:
    base = Config(
        models=("scripted:a",),
        max_iterations=2,
        fixers=FixerSettings(enabled=False),
        search=SearchSettings(samples=samples),
    )
    return base.model_copy(update=changes)


def run(repo: Path, replies: list[Any], samples: int, **changes: Any) -> tuple[Any, ScriptedModel]:
    model = ScriptedModel(replies, name="scripted:a")
    record = repair(Task(repo=repo), config(samples, **changes), models=[model])
    return record, model


def statuses(record: Any) -> list[tuple[int, int | None, str, int]]:
    return [(a.iteration, a.sample, a.status, a.votes) for a in record.attempts]


def test_the_patch_with_most_votes_is_verified_first_and_wins(calc_repo: Path) -> None:
    record, model = run(calc_repo, [WRONG_REPLY, FIX_REPLY, FIX_WITH_SPACES], samples=3)
    assert record.status == "verified"
    assert statuses(record) == [(1, 0, "not_run", 1), (1, 1, "verified", 2), (1, 2, "verified", 2)]
    # The duplicate shares the verification of the first: one test run for both.
    assert record.attempts[2].same_as == record.attempts[1].index
    assert record.attempts[2].sandbox_s == 0.0
    assert record.best_attempt == record.attempts[1].index
    # The samples after the first are hotter, each with its own seed.
    samplings = [r.sampling for r in model.history]
    assert [s.temperature for s in samplings] == [0.0, 0.6, 0.8]
    assert len({s.seed for s in samplings[1:]}) == 2


def test_a_verified_candidate_beats_a_partial_one(calc_repo: Path) -> None:
    # The wrong candidate is smaller, so it is tried first; it fails, the fix is tried next.
    record, _ = run(calc_repo, [SHORT_WRONG_REPLY, FIX_REPLY], samples=2)
    assert record.status == "verified"
    assert [a.status for a in record.attempts] == ["tests_failed", "verified"]
    assert record.diff == record.attempts[1].diff


def test_regressions_disqualify_even_the_most_voted(calc_repo: Path) -> None:
    record, _ = run(calc_repo, [BREAKS_ADD, BREAKS_ADD, FIX_REPLY], samples=3)
    assert record.status == "verified"
    broken = record.attempts[0]
    assert (broken.status, broken.votes) == ("tests_failed", 2)
    assert broken.failing_tests == ("test_calc.py::test_add",)
    assert record.attempts[1].failing_tests == ("test_calc.py::test_add",)  # its duplicate
    assert record.attempts[2].status == "verified"


def test_ties_go_to_the_smaller_patch(calc_repo: Path) -> None:
    record, _ = run(calc_repo, [BIGGER_FIX, FIX_REPLY], samples=2)
    assert [a.status for a in record.attempts] == ["not_run", "verified"]
    assert "# the upper bound" not in record.diff


def test_when_none_verifies_the_model_sees_the_closest_candidate(calc_repo: Path) -> None:
    replies = [NOT_A_REPLY, BREAKS_ADD, WRONG_REPLY, FIX_REPLY, FIX_REPLY, FIX_REPLY]
    record, model = run(calc_repo, replies, samples=3)
    assert record.status == "verified"
    first = [a for a in record.attempts if a.iteration == 1]
    assert [a.status for a in first] == ["parse_error", "tests_failed", "tests_failed"]
    # BREAKS_ADD passes the target and fails a regression: it is the closest.
    second_request = model.history[3].messages
    assert second_request[-2].content == BREAKS_ADD
    told = second_request[-1].content
    assert "test_add" in told
    assert "the closest of 3 candidates; the others: 1 parse error, 1 tests failed" in told


def test_a_refused_first_sample_is_decoded_again_as_one_sample_would_be(
    calc_repo: Path,
) -> None:
    unchanged = FIX_REPLY.replace("return high", "return low")
    # The batch: the first sample changes nothing, the second is wrong; then the first is
    # decoded again, first as it was and then from where the model hesitated: the fix.
    model = AvoidingScript([unchanged, WRONG_REPLY, unchanged, FIX_REPLY], name="scripted:a")
    record = repair(Task(repo=calc_repo), config(2), models=[model])
    assert record.status == "verified"
    assert [(a.iteration, a.sample, a.status) for a in record.attempts] == [
        (1, 0, "verified"),
        (1, 1, "not_run"),
    ]
    assert "return high" in (record.attempts[0].diff or "")
    assert len(model.history) == 4
    # The re-decoded sample keeps the first sample's sampling (greedy).
    assert model.history[2].sampling == model.history[0].sampling


def test_one_sample_behaves_as_before(calc_repo: Path) -> None:
    record, model = run(calc_repo, [WRONG_REPLY, FIX_REPLY], samples=1)
    assert statuses(record) == [(1, 0, "tests_failed", 1), (2, 0, "verified", 1)]
    assert len(model.history) == 2


def test_replay_reproduces_the_selection(calc_repo: Path) -> None:
    record, _ = run(calc_repo, [WRONG_REPLY, FIX_REPLY, FIX_WITH_SPACES], samples=3)
    result = replay_run(RunStore(calc_repo / ".patchloop"), record.id)
    assert result.same, result.differences
    assert statuses(result.replay) == statuses(record)


def test_patch_key_ignores_trailing_spaces_and_blank_lines_only() -> None:
    def patch(after: str) -> Patch:
        return Patch(diff="d", changes=(FileChange(path="a.py", before="x\n", after=after),))

    assert patch_key(patch("a = 1\n\nb = 2\n")) == patch_key(patch("a = 1   \nb = 2\n"))
    assert patch_key(patch("a = 1\n")) != patch_key(patch("    a = 1\n"))
    assert Edit  # the seam type stays importable beside the key


def test_candidates_verified_at_once_are_judged_each_on_its_own_patch(calc_repo: Path) -> None:
    # Two patches of the same file in one wave: each verdict is its own patch's.
    record, _ = run(calc_repo, [BREAKS_ADD, SHORT_WRONG_REPLY], samples=2, max_iterations=1)
    at_once, _ = run(
        calc_repo,
        [BREAKS_ADD, SHORT_WRONG_REPLY],
        samples=2,
        max_iterations=1,
        search=SearchSettings(samples=2, workers=2),
    )
    failing = {a.sample: a.failing_tests for a in at_once.attempts}
    assert failing == {0: ("test_calc.py::test_add",), 1: ("test_calc.py::test_clamp_high",)}
    assert statuses(at_once) == statuses(record)
    assert [a.failing_tests for a in at_once.attempts] == [a.failing_tests for a in record.attempts]


def test_verified_at_once_the_first_green_in_order_wins(calc_repo: Path) -> None:
    replies = [BREAKS_ADD, FIX_REPLY, SHORT_WRONG_REPLY]
    one, _ = run(calc_repo, replies, samples=3)
    three, _ = run(calc_repo, replies, samples=3, search=SearchSettings(samples=3, workers=3))
    assert three.status == one.status == "verified"
    # The same record as one at a time: the larger patch, later in order, is not judged.
    assert statuses(three) == statuses(one)
    assert [a.status for a in three.attempts] == ["not_run", "verified", "tests_failed"]
    assert three.diff == one.diff


def test_branches_come_from_one_request_and_wasted_ones_are_dropped(calc_repo: Path) -> None:
    unchanged = FIX_REPLY.replace("return high", "return low")
    # The first reply is wrong; of its branches, one changes nothing (dropped, never judged)
    # and one is the fix.
    model = BranchScript([WRONG_REPLY, unchanged, FIX_REPLY], name="scripted:a")
    search = SearchSettings(samples=3, sampling="branches")
    record = repair(Task(repo=calc_repo), config(3, search=search), models=[model])
    assert record.status == "verified"
    assert statuses(record) == [(1, 0, "not_run", 1), (1, 1, "verified", 1)]
    assert "return high" in (record.diff or "")
    # Every pass decodes at the first sample's temperature: no hotter samples were asked.
    assert [r.sampling.temperature for r in model.history] == [0.0, 0.0, 0.0]
    result = replay_run(RunStore(calc_repo / ".patchloop"), record.id)
    assert result.same, result.differences
    assert statuses(result.replay) == statuses(record)


def test_a_model_that_cannot_branch_samples_by_temperature(calc_repo: Path) -> None:
    search = SearchSettings(samples=3, sampling="branches")
    record, model = run(calc_repo, [WRONG_REPLY, FIX_REPLY, FIX_WITH_SPACES], 3, search=search)
    assert record.status == "verified"
    assert [r.sampling.temperature for r in model.history] == [0.0, 0.6, 0.8]
