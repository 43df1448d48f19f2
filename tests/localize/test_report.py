import json
from pathlib import Path

import pytest

from patchloop.domain import Limits
from patchloop.errors import RepositoryError, UsageError
from patchloop.localize import LocalizationReport, localize_repo

from .conftest import FunctionBM25

STATS = """
def mean(values):
    return total(values) / (len(values) + 1)


def spread(values):
    return max(values) - min(values) + total([])


def total(values):
    return sum(values)
"""
TESTS = """
from stats import mean, spread


def test_mean():
    assert mean([2, 4]) == 3


def test_spread():
    assert spread([1, 5]) == 4
"""


@pytest.fixture
def stats_repo(make_repo):
    return make_repo({"stats.py": STATS, "test_stats.py": TESTS})


def test_localize_repo_runs_the_tests_and_ranks_files_and_functions(stats_repo, sandbox):
    report = localize_repo(
        stats_repo,
        task="mean of a list is off",
        tests=["test_stats.py::test_mean"],
        k=5,
        sandbox=sandbox,
        limits=Limits(wall_s=120),
        retriever=FunctionBM25(stats_repo),
    )
    assert report.failing == ("test_stats.py::test_mean",)
    assert report.functions[0].signals["sbfl"].score == 1.0
    # The file's passing test ran too, so code it shares with the failure scores lower.
    shared = next(f for f in report.functions if f.symbol == "total")
    assert shared.signals["sbfl"].score < 1.0
    assert [f.path for f in report.files] == ["stats.py"]
    top = report.functions[0]
    assert (top.path, top.symbol, top.start_line, top.end_line) == ("stats.py", "mean", 1, 2)
    assert {"calls", "sbfl", "bm25"} <= set(top.signals)
    assert top.signals["sbfl"].rank == 1
    assert top.signals["sbfl"].score == 1.0
    assert set(report.signals) >= {"calls", "sbfl", "bm25"}
    assert report.weights["traceback"] == 3.0
    again = LocalizationReport.model_validate_json(report.model_dump_json())
    assert again == report
    assert json.loads(report.model_dump_json())["functions"][0]["symbol"] == "mean"


def test_without_tests_or_retriever_only_the_text_counts(stats_repo):
    report = localize_repo(stats_repo, task="fix stats.py", coverage=False)
    assert [f.path for f in report.files] == ["stats.py"]
    assert report.functions[0].signals["mentions"].rank == 1
    assert any("retriever" in note for note in report.notes)


def test_bad_input_is_a_usage_error(tmp_path: Path):
    with pytest.raises(RepositoryError):
        localize_repo(tmp_path / "missing", task="x")
    with pytest.raises(UsageError, match="nothing to localize"):
        localize_repo(tmp_path, coverage=False)


def test_a_named_test_the_run_did_not_collect_is_a_usage_error(stats_repo, sandbox):
    with pytest.raises(UsageError, match=r"no such test: test_stats\.py::test_meen") as info:
        localize_repo(
            stats_repo,
            tests=["./test_stats.py::test_meen"],
            sandbox=sandbox,
            limits=Limits(wall_s=120),
        )
    assert "test_stats.py::test_mean" in (info.value.hint or "")
    with pytest.raises(UsageError, match=r"no such test: test_nope\.py::test_x"):
        localize_repo(
            stats_repo, tests=["test_nope.py::test_x"], sandbox=sandbox, limits=Limits(wall_s=120)
        )


def test_retrieval_signals_carry_their_raw_scores(tmp_path: Path):
    from patchloop.index import lexical_retriever
    from tests.conftest import make_repo as make_git_repo

    repo = make_git_repo(tmp_path / "git", {"stats.py": STATS, "test_stats.py": TESTS})
    retriever = lexical_retriever(repo, store_dir=tmp_path / "index")
    try:
        report = localize_repo(repo, task="mean of values divides total", retriever=retriever,
                               tests=["test_stats.py::test_mean"],
                               baseline=_failing_mean())  # fmt: skip
        direct = retriever.search_scored(report.query, 50)
    finally:
        retriever.close()
    bm25 = {(h.path, h.symbol): raw["bm25"] for h, raw in direct if "bm25" in raw}
    top = next(f for f in report.functions if "bm25" in f.signals)
    signal = top.signals["bm25"]
    assert signal.score == pytest.approx(bm25[(top.path, top.symbol)])
    assert signal.score != float(signal.rank)
    assert "issue" in report.signals


def _failing_mean():
    from patchloop.domain import TestOutcome, TestReport

    return TestReport(
        outcomes=(
            TestOutcome(nodeid="test_stats.py::test_mean", outcome="failed", message="4 != 3"),
        )
    )


BROKEN_CONFTEST = """
import pathlib
pathlib.Path(__file__).with_name("conftest-was-imported").write_text("yes")
import a_module_that_is_not_installed
"""


def test_the_text_alone_ranks_without_running_the_tests(tmp_path: Path):
    from patchloop.index import lexical_retriever
    from tests.conftest import make_repo as make_git_repo

    repo = make_git_repo(
        tmp_path / "git",
        {"stats.py": STATS, "test_stats.py": TESTS, "conftest.py": BROKEN_CONFTEST},
    )
    retriever = lexical_retriever(repo, store_dir=tmp_path / "index")
    try:
        report = localize_repo(repo, task="`mean` divides by one too many", retriever=retriever)
    finally:
        retriever.close()
    assert not (repo / "conftest-was-imported").exists()
    assert not report.tests_ran
    assert report.signals == ("issue",)
    assert report.files[0].path == "stats.py"
    top = report.functions[0]
    assert (top.path, top.symbol) == ("stats.py", "mean")
    assert any("mean" in reason for reason in top.reasons)
    assert report.lines
    assert report.lines[0].path == "stats.py"
    assert report.lines[0].start_line >= 1


def test_a_suite_that_cannot_be_collected_is_a_note(tmp_path: Path, sandbox):
    from patchloop.index import lexical_retriever
    from tests.conftest import make_repo as make_git_repo

    repo = make_git_repo(
        tmp_path / "git",
        {"stats.py": STATS, "test_stats.py": TESTS, "conftest.py": BROKEN_CONFTEST},
    )
    retriever = lexical_retriever(repo, store_dir=tmp_path / "index")
    try:
        report = localize_repo(
            repo,
            task="`mean` divides by one too many",
            retriever=retriever,
            run_tests=True,
            sandbox=sandbox,
            limits=Limits(wall_s=120),
        )
    finally:
        retriever.close()
    assert (top := report.functions[0]).symbol == "mean", top
    assert any("not run" in note or "collected" in note for note in report.notes), report.notes


def test_a_sandbox_made_for_the_tests_is_closed_after_them(stats_repo, monkeypatch):
    from patchloop.localize import report as module
    from patchloop.sandbox.local import LocalSandbox

    made: list[LocalSandbox] = []
    closed: list[LocalSandbox] = []

    class Recording(LocalSandbox):
        def __init__(self) -> None:
            super().__init__()
            made.append(self)

        def close(self) -> None:
            closed.append(self)
            super().close()

    monkeypatch.setattr(module, "_default_sandbox", Recording)
    report = localize_repo(
        stats_repo, tests=["test_stats.py::test_mean"], k=5, limits=Limits(wall_s=120)
    )
    assert report.failing == ("test_stats.py::test_mean",)
    assert len(made) == 1
    assert closed == made
