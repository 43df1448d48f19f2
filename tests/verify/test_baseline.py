"""The baseline: k runs for flakes plus one coverage run, feeding the verification plan."""

from __future__ import annotations

from pathlib import Path

from patchloop.domain import FileChange, Limits
from patchloop.edits.diff import make_patch
from patchloop.sandbox.bwrap import BwrapSandbox
from patchloop.verify import PytestRunner, VerificationPlan
from patchloop.verify.baseline import run_baseline

LIB = "def double(x):\n    return x * 3\n\n\ndef name():\n    return 'lib'\n"
TESTS = """\
from lib import double, name


def test_double():
    assert double(2) == 4


def test_name():
    assert name() == "lib"
"""


def test_baseline_feeds_the_plan(bwrap: BwrapSandbox, tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "tests").mkdir(parents=True)
    (root / "lib.py").write_text(LIB)
    (root / "tests" / "test_lib.py").write_text(TESTS)
    runner = PytestRunner(bwrap, "python -m pytest", limits=Limits(wall_s=60, processes=256))
    base = run_baseline(bwrap, root, runner, runs=3)
    assert len(base.reports) == 3
    assert base.flakes.runs == 3
    assert base.flakes.flaky == ()
    assert base.coverage is not None
    failing, passing = base.report.failing, base.report.passing
    assert failing == ("tests/test_lib.py::test_double",)
    assert passing == ("tests/test_lib.py::test_name",)
    plan = VerificationPlan(
        root,
        targets=failing,
        regressions=passing,
        flakes=base.flakes,
        coverage=base.coverage.lines,
    )
    assert plan.seed(base.report) == 2
    fix = make_patch([FileChange(path="lib.py", before=LIB, after=LIB.replace("* 3", "* 2"))])
    tree = plan.tree_for(fix)
    assert plan.stage(plan.targets, tree).run == plan.targets  # the fix touches the target
    regressions = plan.stage(plan.regressions, tree)
    assert regressions.run == ()  # test_name never executes double(): known green
    assert regressions.outcomes(None)["tests/test_lib.py::test_name"].outcome.ok


def test_an_uncollectable_suite_stops_after_one_run(bwrap: BwrapSandbox, tmp_path: Path) -> None:
    root = tmp_path / "broken"
    root.mkdir()
    (root / "conftest.py").write_text("raise RuntimeError('boom')\n")
    (root / "test_a.py").write_text("def test_a(): pass\n")
    runner = PytestRunner(bwrap, "python -m pytest", limits=Limits(wall_s=60))
    base = run_baseline(bwrap, root, runner, runs=3)
    assert base.report.status == "no_report"
    assert len(base.reports) == 1
    assert base.coverage is None
