"""Telling a plausible fix from the reference fix, without showing the reference to anyone."""

from __future__ import annotations

from patchloop.domain import FileChange
from patchloop.edits import make_patch
from patchloop.eval import matches_reference, parse_suite
from patchloop.eval.reference import same_code
from tests.conftest import CALC
from tests.eval.suites import GOLD_MARKER, calc_task, lines_of


def diff(after: str) -> str:
    return make_patch([FileChange(path="calc.py", before=CALC, after=after)]).diff


def test_the_reference_is_kept_apart_from_the_task() -> None:
    parsed = parse_suite(lines_of(calc_task()))
    assert GOLD_MARKER in parsed.references["tiny/calc"]
    assert GOLD_MARKER not in parsed.tasks[0].model_dump_json()
    assert GOLD_MARKER not in repr(parsed)


def test_same_code_up_to_comments_and_formatting_matches() -> None:
    parsed = parse_suite(lines_of(calc_task()))
    task, reference = parsed.tasks[0], parsed.references["tiny/calc"]
    ours = CALC.replace(
        "        return low\n    return value", "        return (high)\n    return value"
    )
    assert matches_reference(task, diff(ours), reference) is True


def test_different_code_does_not_match() -> None:
    parsed = parse_suite(lines_of(calc_task()))
    task, reference = parsed.tasks[0], parsed.references["tiny/calc"]
    ours = CALC.replace(
        "    if value > high:\n        return low",
        "    if value > high:\n        return min(value, high)",
    )
    assert matches_reference(task, diff(ours), reference) is False


def test_a_diff_that_does_not_apply_cannot_match() -> None:
    parsed = parse_suite(lines_of(calc_task()))
    task, reference = parsed.tasks[0], parsed.references["tiny/calc"]
    stale = make_patch([FileChange(path="calc.py", before="other\n", after="x\n")]).diff
    assert matches_reference(task, stale, reference) is None


def test_same_code_compares_python_by_syntax_tree_and_other_files_by_text() -> None:
    assert same_code("a.py", "x = 1  # one\n", "x = (1)\n")
    assert not same_code("a.py", "x = 1\n", "x = 2\n")
    assert not same_code("a.txt", "x = 1\n", "x = (1)\n")
    assert same_code("a.py", None, None)
    assert not same_code("a.py", "x = 1\n", None)
    assert same_code("a.py", "def (:\n", "def (:\n")
