"""Reading suites: good lines become tasks, bad lines are reported by number and skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patchloop.config import Config
from patchloop.errors import UsageError
from patchloop.eval import EvalSettings, load_suite, parse_suite, run_suite, select_tasks
from tests.eval.suites import GOLD_MARKER, calc_task, mul_task, task

#: The public suites, next to the project checkout when it has them.
SHARED_BENCH = Path(__file__).resolve().parents[3] / "shared" / "bench"


def lines(*items: object) -> bytes:
    return "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in items).encode()


def test_good_lines_become_tasks_without_the_reference_fix() -> None:
    parsed = parse_suite(lines(calc_task(), "", mul_task()))
    assert [t.id for t in parsed.tasks] == ["tiny/calc", "tiny/mul"]
    assert parsed.problems == ()
    calc = parsed.tasks[0]
    assert calc.line == 1
    assert parsed.tasks[1].line == 3  # the blank line still counts
    assert calc.fail_to_pass == ("test_calc.py::test_clamp_high",)
    assert calc.nodeids[0] == "test_calc.py::test_clamp_high"
    assert len(calc.nodeids) == 4
    assert calc.category == "wrong return"
    assert GOLD_MARKER not in calc.model_dump_json()
    assert "bug_lines" not in calc.model_dump_json()


def test_bad_lines_are_reported_with_their_number() -> None:
    missing = calc_task()
    del missing["fail_to_pass"]
    unsafe = task("unsafe", {"../evil.py": "x = 1\n"}, ["t.py::t"])
    empty = task("empty", {"a.py": ""}, [])
    wrong_type = {**mul_task(), "files": ["a.py"]}
    overlap = task("overlap", {"a.py": ""}, ["t.py::a"], ["t.py::a"])
    bad_id = task("bad id!", {"a.py": ""}, ["t.py::a"])
    parsed = parse_suite(
        lines(
            calc_task(),
            "{not json",
            "[1, 2]",
            missing,
            unsafe,
            empty,
            wrong_type,
            calc_task(),
            overlap,
            bad_id,
        )
        + b"\xff\xfe\n"
    )
    assert [t.id for t in parsed.tasks] == ["tiny/calc"]
    by_line = {p.line: p for p in parsed.problems}
    assert sorted(by_line) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert "not valid JSON" in by_line[2].message
    assert "not a JSON object" in by_line[3].message
    assert "missing field 'fail_to_pass'" in by_line[4].message
    assert by_line[4].id == "tiny/calc"
    assert "safe relative" in by_line[5].message
    assert "fail_to_pass is empty" in by_line[6].message
    assert "'files' is not a JSON object" in by_line[7].message
    assert "duplicate id (first on line 1)" in by_line[8].message
    assert "overlap" in by_line[9].message
    assert "characters outside" in by_line[10].message
    assert "not UTF-8" in by_line[11].message


def test_repo_tasks_are_not_part_of_version_1() -> None:
    line = calc_task()
    del line["files"]
    line["repo"] = "https://example.invalid/repo.git"
    (problem,) = parse_suite(lines(line)).problems
    assert "repo/ref" in problem.message


def test_filters_are_globs_on_ids() -> None:
    parsed = parse_suite(lines(calc_task(), mul_task()))
    assert [t.id for t in select_tasks(parsed.tasks, ["tiny/m*"])] == ["tiny/mul"]
    assert len(select_tasks(parsed.tasks, [])) == 2
    assert len(select_tasks(parsed.tasks, ["tiny/c*", "*mul"])) == 2
    assert select_tasks(parsed.tasks, ["other/*"]) == []


def test_unreadable_suite_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read the task suite"):
        load_suite(tmp_path / "missing.jsonl")


def test_public_suites_parse_cleanly() -> None:
    for name, count in (("quixbugs.jsonl", 40), ("humanevalfix.jsonl", 164)):
        path = SHARED_BENCH / name
        if not path.is_file():
            pytest.skip("the public suites are not available here")
        parsed = load_suite(path)
        assert parsed.problems == ()
        assert len(parsed.tasks) == count


def test_run_suite_refuses_filters_that_select_nothing(tmp_path: Path) -> None:
    parsed = parse_suite(lines(calc_task(), mul_task()))
    out = tmp_path / "results.jsonl"
    settings = EvalSettings(config=Config())
    with pytest.raises(UsageError, match=r"--filter 'other/\*' matched none of the 2 task ids"):
        run_suite(parsed, settings, out=out, filters=["other/*"])
    assert not out.exists()
    empty = parse_suite(lines("{not json"))
    with pytest.raises(UsageError, match="the suite has no valid task"):
        run_suite(empty, settings, filters=["*"])


def test_run_suite_refuses_a_suite_without_a_valid_task(tmp_path: Path) -> None:
    empty = parse_suite(lines("{not json", '{"id": 1}'))
    out = tmp_path / "results.jsonl"
    with pytest.raises(UsageError, match=r"no valid task \(2 line\(s\) skipped\)"):
        run_suite(empty, EvalSettings(config=Config()), out=out)
    assert not out.exists()


def test_pass_to_pass_is_optional() -> None:
    line = calc_task()
    del line["pass_to_pass"]
    parsed = parse_suite(lines(line))
    assert parsed.problems == ()
    (calc,) = parsed.tasks
    assert calc.pass_to_pass == ()
    assert calc.nodeids == calc.fail_to_pass
    bad = {**calc_task(), "pass_to_pass": "test_calc.py::test_add"}
    (problem,) = parse_suite(lines(bad)).problems
    assert "field 'pass_to_pass' is not a JSON list" in problem.message
