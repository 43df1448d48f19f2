"""Flake classification: pure comparison, and a real flaky test found over repeated runs."""

from __future__ import annotations

from pathlib import Path

from patchloop.domain import Limits, Outcome, ProcessResult, TestOutcome, TestReport, TestSelection
from patchloop.sandbox.local import LocalSandbox
from patchloop.verify import PytestRunner, VerificationPlan, classify_flakes, find_flaky


def _report(**outcomes: Outcome) -> TestReport:
    return TestReport(
        outcomes=tuple(TestOutcome(nodeid=n, outcome=o) for n, o in outcomes.items()),
        process=ProcessResult(argv=("pytest",), exit_code=1),
    )


def test_varying_outcomes_are_flaky() -> None:
    flakes = classify_flakes(
        [
            _report(a=Outcome.PASSED, b=Outcome.FAILED, c=Outcome.FAILED, d=Outcome.PASSED),
            _report(a=Outcome.PASSED, b=Outcome.PASSED, c=Outcome.FAILED, d=Outcome.TIMEOUT),
            _report(a=Outcome.PASSED, b=Outcome.FAILED, c=Outcome.FAILED),
        ]
    )
    assert flakes.runs == 3
    assert flakes.flaky == ("b", "d")
    assert flakes.outcomes["d"] == (Outcome.PASSED, Outcome.TIMEOUT, Outcome.MISSING)
    assert flakes.stable_failing == ("c",)
    assert flakes.stable_passing == ("a",)
    assert flakes.rate == 0.5
    assert flakes.is_flaky("b")


def test_runs_without_a_report_are_not_compared() -> None:
    broken = TestReport(process=ProcessResult(argv=("x",), exit_code=None, error="no sandbox"))
    crashed = TestReport(status="no_report", process=ProcessResult(argv=("x",), exit_code=2))
    flakes = classify_flakes(
        [_report(a=Outcome.PASSED), broken, crashed, _report(a=Outcome.PASSED)]
    )
    assert flakes.runs == 2
    assert flakes.flaky == ()
    assert classify_flakes([broken]).runs == 0


def test_a_flaky_test_is_classified_flaky_and_ignored(tmp_path: Path) -> None:
    # The local sandbox does not isolate the file system, so a counter outside the copy
    # survives between runs: the test fails on every second run.
    counter = tmp_path / "counter"
    root = tmp_path / "proj"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_f.py").write_text(
        f"""\
from pathlib import Path

COUNTER = Path({str(counter)!r})


def test_flaky():
    runs = int(COUNTER.read_text()) if COUNTER.exists() else 0
    COUNTER.write_text(str(runs + 1))
    assert runs % 2 == 0


def test_steady():
    assert True


def test_broken():
    assert False
"""
    )
    sandbox = LocalSandbox()
    runner = PytestRunner(sandbox, "python -m pytest", limits=Limits(wall_s=60))
    flakes, reports = find_flaky(runner, lambda: sandbox.workspace(root), runs=3)
    assert len(reports) == 3
    assert flakes.runs == 3
    assert flakes.flaky == ("tests/test_f.py::test_flaky",)
    assert flakes.stable_failing == ("tests/test_f.py::test_broken",)
    assert flakes.stable_passing == ("tests/test_f.py::test_steady",)
    # Flaky tests count neither as targets nor as regressions.
    plan = VerificationPlan(
        root,
        targets=["tests/test_f.py::test_broken", "tests/test_f.py::test_flaky"],
        regressions=["tests/test_f.py::test_steady", "tests/test_f.py::test_flaky"],
        flakes=flakes,
    )
    assert plan.targets == ("tests/test_f.py::test_broken",)
    assert plan.regressions == ("tests/test_f.py::test_steady",)
    assert plan.stage(["tests/test_f.py::test_flaky"], plan.tree).run == ()
    # A first report already made counts as the first run.
    again, more = find_flaky(
        runner, lambda: sandbox.workspace(root), TestSelection(), runs=2, first=reports[0]
    )
    assert more[0] is reports[0]
    assert len(more) == 2
    assert again.runs == 2
    sandbox.close()
