"""``patchloop eval`` end to end in real subprocesses: scripted models, real pytest, real git."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from patchloop.cli import app
from tests.conftest import FIX_REPLY
from tests.eval.suites import (
    CHEAT_REPLY,
    GOLD_MARKER,
    PYTEST_INI,
    broken_task,
    calc_task,
    greet_task,
    mul_task,
    task,
    write_replies,
    write_suite,
)

pytestmark = pytest.mark.slow


def eval_argv() -> list[str]:
    """``patchloop eval`` when the command is mounted, else the command module on its own."""
    if any(c.name == "eval" for c in app.registered_commands):
        return [sys.executable, "-m", "patchloop", "eval"]
    return [sys.executable, "-m", "patchloop.cli.eval_cmd"]


def run_eval(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*eval_argv(), *args], capture_output=True, text=True, cwd=cwd, timeout=600, check=False
    )


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    missing = {**calc_task(), "id": "tiny/no_cmd"}
    del missing["test_cmd"]
    return write_suite(
        tmp_path / "suite.jsonl",
        [calc_task(), "{not json", mul_task(), missing, broken_task(), greet_task()],
    )


def test_eval_resolves_reports_and_resumes(tmp_path: Path, suite: Path) -> None:
    spec = write_replies(tmp_path / "replies.jsonl", FIX_REPLY, CHEAT_REPLY)
    out = tmp_path / "results.jsonl"
    summary_file = tmp_path / "summary.json"
    common = ["--model", spec, "--no-fixers", "--max-iterations", "2", "--out", str(out)]
    proc = run_eval(
        str(suite),
        *common,
        "--workers",
        "2",
        "--json",
        "--summary",
        str(summary_file),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    # Bad lines: reported with their numbers, skipped; the rest ran.
    assert "suite line 2: not valid JSON" in proc.stderr
    assert "suite line 4 (tiny/no_cmd): missing field 'test_cmd'" in proc.stderr
    lines = {r["id"]: r for r in read_lines(out)}
    assert set(lines) == {"tiny/calc", "tiny/mul", "tiny/broken", "tiny/greet"}

    calc = lines["tiny/calc"]
    assert calc["resolved"] is True
    assert calc["loop_status"] == "verified"
    assert calc["harness_passed"] is True
    assert calc["fixed_by"] == spec
    assert calc["iterations"] == 1
    assert calc["candidates"] == 0
    assert "+        return high" in calc["diff"]
    assert calc["tokens"]["prompt_tokens"] > 0
    assert calc["sandbox_s"] > 0
    assert calc["harness_s"] > 0
    assert calc["time_to_fix_s"] > 0
    assert calc["wall_s"] >= calc["time_to_fix_s"]
    assert calc["error"] is None
    assert calc["category"] == "wrong return"
    assert calc["matches_reference"] is True
    assert calc["well_formed"] == [
        {"model": spec, "format": "search-replace", "well_formed": 1, "total": 1}
    ]

    mul = lines["tiny/mul"]
    assert mul["resolved"] is False
    assert mul["error"] is None
    assert mul["stop_reason"] == "iterations"
    assert mul["iterations"] == 2

    broken = lines["tiny/broken"]
    assert broken["resolved"] is False
    assert broken["error"] == "infra"
    assert "no-such-test-runner-xyz" in broken["error_detail"]

    # Changing the test is refused by the loop's guard: unresolved, not an error.
    greet = lines["tiny/greet"]
    assert greet["resolved"] is False
    assert greet["error"] is None
    assert greet["loop_status"] == "not_fixed"

    summary = json.loads(proc.stdout)
    assert summary == json.loads(summary_file.read_text())
    assert summary["tasks"] == 4
    assert summary["resolved"] == 1
    assert summary["resolved_rate"] == 0.25
    assert summary["resolved_matching_reference"] == 1
    assert summary["graded"] == 3
    assert summary["resolved_by_tier"] == {spec: 1}
    assert summary["errors"] == {"infra": 1}
    assert summary["verified_but_unresolved"] == 0
    assert summary["iterations"] == 1 + 2 + 2
    assert summary["time_to_fix_s"]["n"] == 1
    assert [s["line"] for s in summary["skipped_lines"]] == [2, 4]
    (formed,) = summary["well_formed"]
    assert formed["model"] == spec
    assert formed["total"] == 5
    assert "loop verified, harness unresolved" in proc.stderr
    # The reference fix is never shown.
    for text in (proc.stdout, proc.stderr, out.read_text()):
        assert GOLD_MARKER not in text

    # --resume: nothing left to run, the file is unchanged, the summary is the same.
    before = out.read_text()
    again = run_eval(str(suite), *common, "--resume", "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert out.read_text() == before
    assert "[1]" not in again.stderr
    assert json.loads(again.stdout)["resolved"] == 1

    # Without --resume an existing results file is not overwritten.
    refused = run_eval(str(suite), *common, cwd=tmp_path)
    assert refused.returncode == 2
    assert "--resume" in refused.stderr
    assert out.read_text() == before

    # A task removed from the file runs again; --retry-errors reruns the infra task too.
    kept = [line for line in before.splitlines() if '"tiny/mul"' not in line]
    out.write_text("\n".join(kept) + "\n")
    third = run_eval(str(suite), *common, "--resume", "--retry-errors", "--json", cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    rerun = [r["id"] for r in read_lines(out)[len(kept) :]]
    assert sorted(rerun) == ["tiny/broken", "tiny/mul"]
    assert json.loads(third.stdout)["evaluated"] == 4


def test_a_fix_that_edits_the_tests_is_unresolved_by_the_harness(
    tmp_path: Path, suite: Path
) -> None:
    spec = write_replies(tmp_path / "replies.jsonl", CHEAT_REPLY)
    out = tmp_path / "results.jsonl"
    proc = run_eval(
        str(suite),
        "--model",
        spec,
        "--no-fixers",
        "--allow-test-edits",
        "--filter",
        "tiny/greet",
        "--out",
        str(out),
        "--records",
        str(tmp_path / "records"),
        "--json",
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    (record_file,) = (tmp_path / "records" / "tiny__greet").glob("runs/*/record.json")
    assert json.loads(record_file.read_text())["status"] == "verified"
    (line,) = read_lines(out)
    assert line["loop_status"] == "verified"
    assert line["resolved"] is False
    assert line["harness_passed"] is False
    assert line["error"] == "harness_mismatch"
    assert line["restored"] == ["test_greet.py"]
    assert line["harness_failing"] == ["test_greet.py::test_greet"]
    assert line["fixed_by"] is None
    assert line["time_to_fix_s"] is None
    summary = json.loads(proc.stdout)
    assert summary["verified_but_unresolved"] == 1
    assert summary["resolved"] == 0


SLOW_TEST = """import time


def test_slow_one():
    time.sleep(1.5)
    assert False


def test_slow_two():
    time.sleep(1.5)
    assert False


def test_slow_three():
    time.sleep(1.5)
    assert False
"""


def slow_task(name: str) -> dict[str, Any]:
    return task(
        name,
        {"slow.py": "X = 1\n", "test_slow.py": SLOW_TEST, "pytest.ini": PYTEST_INI},
        ["test_slow.py::test_slow_one", "test_slow.py::test_slow_two"],
        [],
    )


def test_a_task_past_its_budget_is_a_timeout(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "suite.jsonl", [slow_task("slow")])
    spec = write_replies(tmp_path / "replies.jsonl", FIX_REPLY)
    proc = run_eval(
        str(suite), "--model", spec, "--no-fixers", "--timeout", "2", "--json", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["errors"] == {"timeout": 1}
    assert summary["resolved"] == 0


def test_interrupt_leaves_a_valid_results_file(tmp_path: Path) -> None:
    suite = write_suite(
        tmp_path / "suite.jsonl", [calc_task(), slow_task("slow1"), slow_task("slow2")]
    )
    spec = write_replies(tmp_path / "replies.jsonl", FIX_REPLY)
    out = tmp_path / "results.jsonl"
    proc = subprocess.Popen(
        [*eval_argv(), str(suite), "--model", spec, "--no-fixers", "--out", str(out)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (out.exists() and out.read_text()):
            time.sleep(0.1)
        assert out.read_text(), "the first task never finished"
        time.sleep(0.5)  # the second task is under way
        os.killpg(proc.pid, signal.SIGINT)  # like Ctrl-C on a terminal: the whole group
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    assert "--resume" in stderr
    text = out.read_text()
    assert text.endswith("\n")
    ids = [json.loads(line)["id"] for line in text.splitlines()]
    assert ids[0] == "tiny/calc"
    assert "tiny/slow2" not in ids
    # No worker outlives the command (the forkserver notices its parent is gone and exits).
    left = "?"
    deadline = time.monotonic() + 20
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = subprocess.run(
            ["ps", "-o", "pid=,cmd=", "-s", str(proc.pid)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    assert left == ""


def test_model_free_tier_resolves_without_a_model(tmp_path: Path) -> None:
    fixers = pytest.importorskip("patchloop.fixers")
    if not hasattr(fixers, "get_fixer"):
        pytest.skip("the model-free tier is not available")
    suite = write_suite(tmp_path / "suite.jsonl", [calc_task()])
    out = tmp_path / "results.jsonl"
    proc = run_eval(str(suite), "--out", str(out), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (line,) = read_lines(out)
    assert line["resolved"] is True, line
    assert line["fixed_by"] == "fixers"
    assert line["candidates"] >= 1
    assert line["iterations"] == 0
    assert json.loads(proc.stdout)["resolved_by_tier"] == {"fixers": 1}


def test_a_filter_that_matches_no_task_is_a_usage_error(tmp_path: Path, suite: Path) -> None:
    out = tmp_path / "results.jsonl"
    proc = run_eval(
        str(suite), "--no-fixers", "--filter", "nomatch*", "--out", str(out), cwd=tmp_path
    )
    assert proc.returncode == 2, proc.stderr
    assert "evaluated" not in proc.stdout + proc.stderr  # no empty summary
    assert "patchloop: error: --filter 'nomatch*' matched none of the 4 task ids" in proc.stderr
    assert "tiny/calc" in proc.stderr
    assert not out.exists()
