"""The repair loop end to end: scripted model, real sandbox, real pytest, temporary git repos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from patchloop.config import Config, FixerSettings, TestSettings
from patchloop.domain import Capabilities, Completion, CompletionRequest, Task
from patchloop.errors import UsageError
from patchloop.loop import repair
from patchloop.models.scripted import ScriptedModel, ScriptedReply
from patchloop.store import RunStore
from tests.conftest import CALC, FIX_REPLY, PYTEST_INI, TEST_CALC, AvoidingScript, tree_state

WRONG_REPLY = FIX_REPLY.replace("return high", "return value")
TEST_EDIT_REPLY = """test_calc.py
<<<<<<< SEARCH
    assert clamp(50, 0, 10) == 10
=======
    assert clamp(50, 0, 10) == 0
>>>>>>> REPLACE
"""
TRAVERSAL_REPLY = """../outside.py
<<<<<<< SEARCH
=======
print("escaped")
>>>>>>> REPLACE
"""
REGRESSION_REPLY = (
    """calc.py
<<<<<<< SEARCH
def add(a, b):
    return a + b
=======
def add(a, b):
    return a - b
>>>>>>> REPLACE
"""
    + FIX_REPLY
)


def config(**changes: Any) -> Config:
    """Model tiers only, small budgets."""
    base = Config(models=("scripted:a",), max_iterations=3, fixers=FixerSettings(enabled=False))
    return base.model_copy(update=changes)


def run(repo: Path, replies: list[Any], **changes: Any) -> tuple[Any, ScriptedModel]:
    model = ScriptedModel(replies, name="scripted:a")
    record = repair(Task(repo=repo), config(**changes), models=[model])
    return record, model


def test_fixed_in_one_iteration(calc_repo: Path) -> None:
    before = tree_state(calc_repo)
    record, model = run(calc_repo, [FIX_REPLY])
    assert record.status == "verified"
    assert record.stop_reason == "verified"
    assert [a.status for a in record.attempts] == ["verified"]
    assert "+        return high" in record.diff
    assert record.targets == ("test_calc.py::test_clamp_high",)
    assert set(record.baseline_passing) == {
        "test_calc.py::test_add",
        "test_calc.py::test_clamp_low",
        "test_calc.py::test_clamp_inside",
    }
    assert record.usage.prompt_tokens > 0
    assert record.sandbox_s > 0
    # The prompt shows the code under test and the failing test's source.
    prompt = model.history[0].messages[1].content
    assert "## calc.py" in prompt
    assert "## test_calc.py" in prompt
    assert "test_clamp_high" in prompt
    assert tree_state(calc_repo) == before


def test_user_tree_is_untouched_while_the_run_goes_on(calc_repo: Path) -> None:
    before = tree_state(calc_repo)
    seen: list[dict[str, bytes]] = []

    class Watching(ScriptedModel):
        def complete(self, request: CompletionRequest) -> Completion:
            # Called after earlier attempts were applied and tested: the tree must not show it.
            seen.append(tree_state(calc_repo))
            return super().complete(request)

    model = Watching([WRONG_REPLY, REGRESSION_REPLY, FIX_REPLY], name="scripted:a")
    record = repair(Task(repo=calc_repo), config(), models=[model])
    assert record.status == "verified"
    assert len(seen) == 3
    assert all(state == before for state in seen)


def test_failing_attempt_is_fed_back(calc_repo: Path) -> None:
    record, model = run(calc_repo, [WRONG_REPLY, FIX_REPLY])
    assert [a.status for a in record.attempts] == ["tests_failed", "verified"]
    assert record.attempts[0].failing == 1
    second = model.history[1].messages
    assert second[2].role == "assistant"
    assert second[2].content == WRONG_REPLY
    assert "They still fail" in second[3].content
    assert "back to their original state" in second[3].content
    assert "test_calc.py::test_clamp_high" in second[3].content
    assert "assert 50 == 10" in second[3].content
    # The second prompt starts with the whole first prompt: the prefix is byte-stable.
    assert second[:2] == model.history[0].messages
    assert record.attempts[1].prefix_shared_chars > 1000
    assert record.attempts[1].usage.cached_tokens > 0


def test_malformed_output_then_good(calc_repo: Path) -> None:
    record, model = run(calc_repo, ["I think the bug is in clamp.", FIX_REPLY])
    assert [a.status for a in record.attempts] == ["parse_error", "verified"]
    assert record.attempts[0].well_formed is False
    assert record.attempts[1].well_formed is True
    assert "SEARCH/REPLACE" in model.history[1].messages[-1].content


def test_iterations_exhausted_reports_best_attempt(calc_repo: Path) -> None:
    # The second reply breaks add() as well: more failures than the first.
    broken = REGRESSION_REPLY.replace("return high", "return value")
    record, _ = run(calc_repo, [WRONG_REPLY, broken], max_iterations=2)
    assert record.status == "not_fixed"
    assert record.stop_reason == "iterations"
    assert record.best_attempt == 1
    assert record.diff == record.attempts[0].diff


def test_token_budget_stops_the_run(calc_repo: Path) -> None:
    record, _ = run(calc_repo, [WRONG_REPLY, WRONG_REPLY, FIX_REPLY], max_tokens=100)
    assert record.stop_reason == "tokens"
    assert len(record.attempts) == 1


def test_time_budget_stops_the_run(calc_repo: Path) -> None:
    # Each wrong patch makes the failing test take over a second (distinct patches, so none
    # is answered from the result cache): a 10 s budget ends well before 50 replies.
    slow = "return __import__('time').sleep(1.2) or value + 0 * {}"
    wrong = [FIX_REPLY.replace("return high", slow.format(i)) for i in range(50)]
    tests = TestSettings(flake_runs=1)
    record, model = run(calc_repo, wrong, max_iterations=50, timeout=10.0, tests=tests)
    assert record.status == "not_fixed"
    assert record.stop_reason == "time"
    assert 1 <= len(record.attempts) < 50
    assert len(model.history) == len(record.attempts)


def test_test_editing_patch_is_rejected(calc_repo: Path) -> None:
    before = tree_state(calc_repo)
    record, model = run(calc_repo, [TEST_EDIT_REPLY, FIX_REPLY])
    # Caught by the reply's scope before the tamper guard would see it.
    assert [a.status for a in record.attempts] == ["out_of_scope", "verified"]
    feedback = model.history[1].messages[-1].content
    assert "is a test file" in feedback
    assert "The files you may edit are: calc.py" in feedback
    assert tree_state(calc_repo) == before


def test_test_edits_allowed_when_asked(calc_repo: Path) -> None:
    model = ScriptedModel([TEST_EDIT_REPLY], name="scripted:a")
    task = Task(repo=calc_repo, allow_test_edits=True)
    record = repair(task, config(allow_test_edits=True), models=[model])
    assert record.status == "verified"


def test_path_traversal_is_rejected(calc_repo: Path) -> None:
    before = tree_state(calc_repo)
    record, _ = run(calc_repo, [TRAVERSAL_REPLY, FIX_REPLY])
    assert [a.status for a in record.attempts] == ["out_of_scope", "verified"]
    assert not (calc_repo.parent / "outside.py").exists()
    assert tree_state(calc_repo) == before


def test_regression_is_caught(calc_repo: Path) -> None:
    record, model = run(calc_repo, [REGRESSION_REPLY, FIX_REPLY])
    assert [a.status for a in record.attempts] == ["tests_failed", "verified"]
    assert record.attempts[0].failing_tests == ("test_calc.py::test_add",)
    assert "test_add" in model.history[1].messages[-1].content


def test_model_failure_escalates_to_the_next_model(calc_repo: Path) -> None:
    small = ScriptedModel([ScriptedReply(raise_="ModelUnavailable")], name="scripted:small")
    large = ScriptedModel([FIX_REPLY], name="scripted:large")
    cfg = config(models=("scripted:small", "scripted:large"))
    record = repair(Task(repo=calc_repo), cfg, models=[small, large])
    assert record.status == "verified"
    assert [(a.tier, a.status) for a in record.attempts] == [
        ("scripted:small", "model_error"),
        ("scripted:large", "verified"),
    ]
    assert record.attempts[0].error == "ModelUnavailable"


def test_nothing_to_fix(calc_repo: Path) -> None:
    fixed = calc_repo / "calc.py"
    fixed.write_text(fixed.read_text().replace("return low\n    return", "return high\n    return"))
    record, model = run(calc_repo, [FIX_REPLY])
    assert record.status == "nothing_to_fix"
    assert record.attempts == ()
    assert model.history == []


def test_an_issue_with_no_failing_test_says_where_it_points_and_what_is_needed(
    calc_repo: Path,
) -> None:
    fixed = calc_repo / "calc.py"
    fixed.write_text(fixed.read_text().replace("return low\n    return", "return high\n    return"))
    model = ScriptedModel([FIX_REPLY], name="scripted:a")
    task = Task(repo=calc_repo, description="clamp returns the wrong bound for large values")
    record = repair(task, config(), models=[model])
    assert record.status == "nothing_to_fix"
    assert model.history == []
    assert record.error is not None
    assert "the issue points at calc.py:" in record.error
    assert "name a test that shows the issue (--test NODEID)" in record.error


def test_named_test_that_passes_is_nothing_to_fix(calc_repo: Path) -> None:
    model = ScriptedModel([FIX_REPLY], name="scripted:a")
    record = repair(
        Task(repo=calc_repo, tests=("test_calc.py::test_add",)), config(), models=[model]
    )
    assert record.status == "nothing_to_fix"


def test_no_tier_is_a_usage_error(calc_repo: Path) -> None:
    with pytest.raises(UsageError, match="no model is configured"):
        repair(Task(repo=calc_repo), config(models=()), models=[])
    assert not (calc_repo / ".patchloop").exists()


def test_record_on_disk(calc_repo: Path) -> None:
    record, _ = run(calc_repo, [WRONG_REPLY, FIX_REPLY])
    store = RunStore(calc_repo / ".patchloop")
    assert store.load(record.id) == record
    run_dir = store.path(record.id)
    kinds = [
        json.loads(line)["kind"] for line in (run_dir / "events.jsonl").read_text().splitlines()
    ]
    assert kinds[0] == "run.start"
    assert kinds[-1] == "run.end"
    assert "baseline.end" in kinds
    for name in ("prompt.json", "completion.txt", "completion.json", "patch.diff", "feedback.txt"):
        assert (run_dir / "attempts/001" / name).is_file(), name
    assert (run_dir / "attempts/002/patch.diff").read_text() == record.diff
    config_json = json.loads((run_dir / "config.json").read_text())
    assert config_json["max_iterations"] == 3
    assert record.timings["baseline"] > 0
    assert record.timings["verify"] > 0


def test_replay_reaches_the_same_result(calc_repo: Path) -> None:
    from patchloop.replay import replay_run

    record, _ = run(calc_repo, ["garbage", WRONG_REPLY, FIX_REPLY])
    # The work tree moves on; replay still uses the recorded snapshot.
    (calc_repo / "calc.py").write_text("def add(a, b):\n    return 0\n")
    result = replay_run(RunStore(calc_repo / ".patchloop"), record.id)
    assert result.same, result.differences
    assert result.replay.replay_of == record.id
    assert result.replay.diff == record.diff
    assert [a.status for a in result.replay.attempts] == ["parse_error", "tests_failed", "verified"]


def test_a_suite_slower_than_the_timeout_is_an_infrastructure_error(
    repo_factory: Any,
) -> None:
    from patchloop.config import TestSettings
    from patchloop.errors import InfrastructureError

    repo = repo_factory(
        "slow",
        {"test_slow.py": "import time\n\n\ndef test_slow():\n    time.sleep(60)\n"},
    )
    slow = config(tests=TestSettings(timeout=2, per_test_timeout=120))
    with pytest.raises(InfrastructureError, match="did not finish within 2s"):
        repair(Task(repo=repo), slow, models=[ScriptedModel([FIX_REPLY], name="scripted:a")])


SYNTAX_BREAK_REPLY = FIX_REPLY.replace("        return high", "        return high)")
WRONG_PATH_REPLY = FIX_REPLY.replace("calc.py\n", "src/calc.py\n", 1)


def test_a_repeated_reply_is_not_run_again_and_the_next_request_is_hotter(
    calc_repo: Path,
) -> None:
    record, model = run(calc_repo, [WRONG_REPLY, WRONG_REPLY, FIX_REPLY])
    assert [a.status for a in record.attempts] == ["tests_failed", "repeated", "verified"]
    # The repeat cost no test run, and the model was told what the first one got.
    assert record.attempts[1].sandbox_s == 0.0
    told = model.history[2].messages[-1].content
    assert "same edits as your attempt 1" in told
    assert "test_clamp_high" in told
    # Greedy first, the retry temperature after, hotter again after the repeat.
    temperatures = [r.sampling.temperature for r in model.history]
    assert temperatures[0] == 0.0
    assert temperatures[1] == Config().search.retry_temperature
    assert temperatures[2] > temperatures[1]
    assert model.history[2].sampling.seed is not None


def test_a_repeat_with_other_whitespace_is_still_a_repeat(calc_repo: Path) -> None:
    spaced = WRONG_REPLY.replace("return value\n", "return value   \n") + "\n\n"
    record, _ = run(calc_repo, [WRONG_REPLY, spaced, FIX_REPLY])
    assert [a.status for a in record.attempts] == ["tests_failed", "repeated", "verified"]


DROPPED_NAME_REPLY = """calc.py
<<<<<<< SEARCH
def add(a, b):
    return a + b
=======
>>>>>>> REPLACE
calc.py
<<<<<<< SEARCH
        return low
    return value
=======
        return add(high, 0)
    return value
>>>>>>> REPLACE
"""


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        # a syntax error, with its line
        (SYNTAX_BREAK_REPLY, ["calc.py: unmatched ')' at line 10", "return high)"]),
        # a dropped name the file still reads, with what bound it
        (
            DROPPED_NAME_REPLY,
            ["calc.py still uses `add` but no longer defines or imports it", "    def add(a, b):"],
        ),
    ],
)
def test_a_patch_that_cannot_run_is_refused_before_the_tests(
    calc_repo: Path, reply: str, said: list[str]
) -> None:
    record, model = run(calc_repo, [reply, FIX_REPLY])
    assert [a.status for a in record.attempts] == ["syntax_error", "verified"]
    assert record.attempts[0].sandbox_s == 0.0
    told = model.history[1].messages[-1].content
    for text in said:
        assert text in told


def test_a_reply_that_repeats_an_earlier_change_in_other_words_is_a_repeat(
    calc_repo: Path,
) -> None:
    # The same change as WRONG_REPLY, with a comment and other spacing.
    reworded = FIX_REPLY.replace("        return high", "        return (value)  # the value")
    record, _ = run(calc_repo, [WRONG_REPLY, reworded, FIX_REPLY])
    assert [a.status for a in record.attempts] == ["tests_failed", "repeated", "verified"]
    assert record.attempts[1].sandbox_s == 0.0


def test_a_patch_that_only_adds_annotations_is_refused_before_the_tests(calc_repo: Path) -> None:
    typed = """calc.py
<<<<<<< SEARCH
def clamp(value, low, high):
=======
def clamp(value: int, low: int, high: int) -> int:
>>>>>>> REPLACE
"""
    record, model = run(calc_repo, [typed, FIX_REPLY])
    assert [a.status for a in record.attempts] == ["empty_patch", "verified"]
    assert record.attempts[0].sandbox_s == 0.0
    told = model.history[1].messages[-1].content
    assert "calc.py changed only type annotations" in told
    # Nothing new came back: the next request is hotter, as after an empty reply.
    assert model.history[1].sampling.temperature > model.history[0].sampling.temperature


def test_a_docstring_no_failing_test_reads_is_refused_before_the_tests(calc_repo: Path) -> None:
    documented = """calc.py
<<<<<<< SEARCH
def clamp(value, low, high):
=======
def clamp(value, low, high):
    \"\"\">>> clamp(5, 0, 3)
    3
    \"\"\"
>>>>>>> REPLACE
"""
    record, model = run(calc_repo, [documented, FIX_REPLY])
    assert [a.status for a in record.attempts] == ["empty_patch", "verified"]
    assert record.attempts[0].sandbox_s == 0.0
    assert "comments, docstrings or layout" in model.history[1].messages[-1].content


def test_a_wrong_path_is_answered_with_the_files_that_may_be_edited(calc_repo: Path) -> None:
    record, model = run(calc_repo, [WRONG_PATH_REPLY, FIX_REPLY])
    assert [a.status for a in record.attempts] == ["out_of_scope", "verified"]
    assert record.attempts[0].well_formed is False
    told = model.history[1].messages[-1].content
    assert "src/calc.py is not a file you may edit here (did you mean calc.py?)" in told


def test_requests_carry_a_contract_scoped_to_the_files_shown(calc_repo: Path) -> None:
    model = ScriptedModel([FIX_REPLY], name="scripted:a", capabilities=Capabilities(grammar=True))
    repair(Task(repo=calc_repo), config(), models=[model])
    contract = model.history[0].contract
    assert contract is not None
    assert contract.grammar is not None
    assert '"calc.py"' in contract.grammar
    assert "test_calc.py" not in contract.grammar
    assert contract.unit_end == ">>>>>>> REPLACE\n"
    # The reply budget is bounded by the editable text, not only by the configured cap.
    assert model.history[0].sampling.max_tokens < Config().model.max_output_tokens


def test_duplicate_edits_in_one_reply_are_applied_once(calc_repo: Path) -> None:
    record, _ = run(calc_repo, [FIX_REPLY + "\n" + FIX_REPLY])
    assert record.status == "verified"
    assert record.attempts[0].edits == 1


def test_without_constrain_no_contract_is_sent_and_replies_are_still_checked(
    calc_repo: Path,
) -> None:
    from patchloop.config import ModelSettings

    model = ScriptedModel(
        [WRONG_PATH_REPLY, FIX_REPLY], name="scripted:a", capabilities=Capabilities(grammar=True)
    )
    record = repair(
        Task(repo=calc_repo), config(model=ModelSettings(constrain=False)), models=[model]
    )
    assert all(r.contract is None for r in model.history)
    assert [a.status for a in record.attempts] == ["out_of_scope", "verified"]


NOOP_REPLY = (
    "calc.py\n<<<<<<< SEARCH\n    if value > high:\n=======\n    if value > high:\n"
    ">>>>>>> REPLACE\n"
)


def test_a_reply_that_changes_nothing_makes_the_next_request_hotter(calc_repo: Path) -> None:
    record, model = run(
        calc_repo, [NOOP_REPLY, WRONG_REPLY, WRONG_REPLY, FIX_REPLY], max_iterations=4
    )
    assert [a.status for a in record.attempts] == [
        "empty_patch",
        "tests_failed",
        "repeated",
        "verified",
    ]
    temperatures = [r.sampling.temperature for r in model.history]
    assert temperatures[0] == 0.0
    assert 0.0 < temperatures[1] < temperatures[3]
    # A repeat names the attempt it repeats by its number in the tier.
    assert "same edits as your attempt 2," in model.history[3].messages[-1].content


def _whole(text: str) -> str:
    return f"calc.py\n```python\n{text}```\n"


def test_whole_rewrites_are_shown_again_as_the_lines_they_changed(calc_repo: Path) -> None:
    bug = "        return low\n    return value"
    wrong = CALC.replace(bug, "        return value\n    return value")
    fixed = CALC.replace(bug, "        return high\n    return value")
    replies = [_whole(CALC), _whole(wrong), _whole(fixed)]
    record, model = run(calc_repo, replies, edit_format="whole")
    assert [a.status for a in record.attempts] == ["empty_patch", "tests_failed", "verified"]
    # The unchanged rewrite is named as such, the wrong one told by its changed line: neither
    # the file nor a diff is there to copy.
    second, third = model.history[1].messages, model.history[2].messages
    assert second[2].role == "assistant"
    assert second[2].content == "(I rewrote calc.py but left the code as it was.)"
    shown = third[-2].content
    assert shown.startswith("(I rewrote calc.py. Compared with the original, my rewrite changed:)")
    assert "`return low` became `return value`" in shown
    assert "def add(a, b)" not in shown
    assert "```" not in shown


def test_test_configuration_shown_in_the_prompt_is_not_editable() -> None:
    from patchloop.context.layout import ContextFile, PromptLayout
    from patchloop.domain import TierPlan
    from patchloop.edits import get_format
    from patchloop.tiers import ModelTier

    shown = [
        ContextFile(path="calc.py", text=CALC),
        ContextFile(path="pytest.ini", text="[pytest]\n"),
        ContextFile(path="tox.ini", text="[tox]\n"),
        ContextFile(path="test_calc.py", text="def test_x():\n    pass\n"),
    ]
    layout = PromptLayout(
        instructions="",
        files=shown,
        task="",
        failures="",
        count_tokens=len,
        max_tokens=100_000,
    )
    model = ScriptedModel([], name="scripted:a")
    tier = ModelTier(
        TierPlan(name="scripted:a", kind="model"),
        model,
        get_format("whole"),
        layout,
        config(),
        history=[],
        cache_key="k",
    )
    scope = tier.scope()
    assert scope is not None
    assert scope.paths == ("calc.py",)
    contract = get_format("whole").contract(scope)
    assert contract is not None
    assert contract.grammar is not None
    assert "pytest.ini" not in contract.grammar


def test_test_files_copied_after_a_fix_are_left_out_and_the_fix_verified(
    calc_repo: Path,
) -> None:
    fixed = CALC.replace(
        "        return low\n    return value", "        return high\n    return value"
    )
    # Without a contract, a small model writes the file it fixed and then the others it saw.
    reply = _whole(fixed) + f"test_calc.py\n```python\n{TEST_CALC}```\n"
    reply += f"pytest.ini\n```ini\n{PYTEST_INI}```\n"
    model = ScriptedModel([reply], name="scripted:a")
    record = repair(Task(repo=calc_repo), config(edit_format="whole"), models=[model])
    assert [a.status for a in record.attempts] == ["verified"]
    assert record.diff is not None
    assert "test_calc.py" not in record.diff
    assert "pytest.ini" not in record.diff


def test_a_reply_that_changes_nothing_is_decoded_again_before_it_is_tested(
    calc_repo: Path,
) -> None:
    fixed = CALC.replace(
        "        return low\n    return value", "        return high\n    return value"
    )
    model = AvoidingScript([_whole(CALC), _whole(fixed)], name="scripted:a")
    record = repair(Task(repo=calc_repo), config(edit_format="whole"), models=[model])
    assert [a.status for a in record.attempts] == ["verified"]
    assert len(model.history) == 2


def test_a_reply_that_repeats_a_failed_one_is_decoded_again(calc_repo: Path) -> None:
    model = AvoidingScript([WRONG_REPLY, WRONG_REPLY, FIX_REPLY], name="scripted:a")
    record = repair(Task(repo=calc_repo), config(), models=[model])
    assert [a.status for a in record.attempts] == ["tests_failed", "verified"]
    assert len(model.history) == 3


def test_forks_off_leaves_replies_as_they_came(calc_repo: Path) -> None:
    from patchloop.config import SearchSettings

    model = AvoidingScript([WRONG_REPLY, WRONG_REPLY, FIX_REPLY], name="scripted:a")
    record = repair(Task(repo=calc_repo), config(search=SearchSettings(forks=0)), models=[model])
    assert [a.status for a in record.attempts] == ["tests_failed", "repeated", "verified"]


def test_a_rewrite_that_breaks_the_syntax_is_decoded_again(calc_repo: Path) -> None:
    broken = CALC.replace(
        "        return low\n    return value", "        return high)\n    return value"
    )
    fixed = CALC.replace(
        "        return low\n    return value", "        return high\n    return value"
    )
    model = AvoidingScript([_whole(broken), _whole(fixed)], name="scripted:a")
    record = repair(Task(repo=calc_repo), config(edit_format="whole"), models=[model])
    assert [a.status for a in record.attempts] == ["verified"]


def test_a_diff_written_where_a_whole_file_belongs_is_decoded_again(calc_repo: Path) -> None:
    fixed = CALC.replace(
        "        return low\n    return value", "        return high\n    return value"
    )
    diff = "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1 +1 @@\n"
    model = AvoidingScript([_whole(diff), _whole(fixed)], name="scripted:a")
    record = repair(Task(repo=calc_repo), config(edit_format="whole"), models=[model])
    assert [a.status for a in record.attempts] == ["verified"]
    assert len(model.history) == 2
