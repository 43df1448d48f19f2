"""The results file: complete lines only, resume, repair of a cut-off file; the summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.domain import Usage
from patchloop.errors import UsageError
from patchloop.eval import (
    Distribution,
    ResultsFile,
    SuiteProblem,
    TaskResult,
    WellFormed,
    read_results,
    summarize,
)


def result(task_id: str, **fields: object) -> TaskResult:
    return TaskResult.model_validate({"id": task_id, "resolved": False, **fields})


def test_lines_are_appended_whole_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "out" / "results.jsonl"
    with ResultsFile(path, resume=False) as out:
        out.append(result("a", resolved=True, diff="diff --git a/x b/x\n"))
        out.append(result("b", error="infra"))
    text = path.read_text()
    assert text.endswith("\n")
    assert len(text.splitlines()) == 2
    found, bad = read_results(path)
    assert bad == 0
    assert found["a"].resolved
    assert found["a"].diff == "diff --git a/x b/x\n"
    assert found["b"].error == "infra"


def test_an_existing_file_needs_resume(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text(result("a").model_dump_json() + "\n")
    with pytest.raises(UsageError, match="--resume"):
        ResultsFile(path, resume=False)
    assert set(ResultsFile(path, resume=True).existing) == {"a"}


def test_resume_drops_a_cut_off_line_and_keeps_the_file_valid(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    whole = result("a").model_dump_json() + "\n"
    path.write_text(whole + result("b").model_dump_json()[:25])
    results = ResultsFile(path, resume=True)
    assert set(results.existing) == {"a"}
    assert results.dropped == 1
    with results as out:
        out.append(result("c"))
    assert [line[:12] for line in path.read_text().splitlines()] == ['{"id":"a","r', '{"id": "c", ']
    assert set(read_results(path)[0]) == {"a", "c"}


def test_a_later_line_wins(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text(
        result("a", error="infra").model_dump_json() + "\n" + result("a").model_dump_json() + "\n"
    )
    assert read_results(path)[0]["a"].error is None


def test_distribution_uses_nearest_rank() -> None:
    assert Distribution.of([]) == Distribution()
    dist = Distribution.of([float(x) for x in range(1, 11)])
    assert dist.n == 10
    assert dist.median == 5.5
    assert dist.p90 == 9.0
    assert Distribution.of([3.0]).p90 == 3.0


def test_summary_counts_tiers_errors_tokens_and_mismatches() -> None:
    results = [
        result(
            "a",
            resolved=True,
            loop_status="verified",
            harness_passed=True,
            fixed_by="fixers",
            time_to_fix_s=2.0,
            candidates=7,
            category="x",
            sandbox_s=1.5,
        ),
        result(
            "b",
            resolved=True,
            loop_status="verified",
            harness_passed=True,
            fixed_by="scripted:m",
            time_to_fix_s=4.0,
            iterations=2,
            tokens=Usage(prompt_tokens=100, completion_tokens=10, cached_tokens=50),
            well_formed=[WellFormed(model="scripted:m", format="json", well_formed=1, total=2)],
            category="x",
        ),
        result(
            "c",
            loop_status="verified",
            harness_passed=False,
            error="harness_mismatch",
            well_formed=[WellFormed(model="scripted:m", format="json", well_formed=1, total=1)],
        ),
        result("d", error="infra"),
        result("e", loop_status="not_fixed", harness_passed=True),
    ]
    summary = summarize(results, tasks=6, problems=[SuiteProblem(line=3, message="not valid JSON")])
    assert summary.tasks == 6
    assert summary.evaluated == 5
    assert summary.resolved == 2
    assert summary.resolved_rate == round(2 / 6, 4)
    assert summary.graded == 4
    assert summary.resolved_rate_graded == 0.5
    assert summary.resolved_by_tier == {"fixers": 1, "scripted:m": 1}
    assert summary.resolved_by_category == {"-": [0, 3], "x": [2, 2]}
    assert summary.time_to_fix_s.median == 3.0
    assert summary.time_to_fix_by_tier_s["fixers"].median == 2.0
    assert summary.candidates == 7
    assert summary.iterations == 2
    assert summary.tokens == Usage(prompt_tokens=100, completion_tokens=10, cached_tokens=50)
    assert summary.sandbox_s == 1.5
    assert summary.errors == {"harness_mismatch": 1, "infra": 1}
    (rate,) = summary.well_formed
    assert (rate.model, rate.format, rate.well_formed, rate.total) == ("scripted:m", "json", 2, 3)
    assert rate.rate == round(2 / 3, 4)
    assert summary.verified_but_unresolved == 1
    assert summary.unverified_but_passing == 1
    assert summary.skipped_lines[0].line == 3
