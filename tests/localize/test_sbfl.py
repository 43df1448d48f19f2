import sys
from pathlib import Path

import pytest

from patchloop.domain import Limits, Outcome
from patchloop.errors import InfrastructureError, UsageError
from patchloop.localize.sbfl import line_scores, ochiai
from patchloop.localize.spectrum import CoverageMap, collect_coverage

CALC = """
def classify(n):
    if n >= 0:
        kind = "non-negative"
        return kind
    return "positive"


def double(n):
    return n * 2
"""
BUGGY_LINE = 5
TESTS = """
from pkg.calc import classify, double


def test_positive():
    assert classify(3) == "non-negative"


def test_zero():
    assert classify(0) == "non-negative"


def test_negative():
    assert classify(-1) == "negative"


def test_very_negative():
    assert classify(-50) == "negative"


def test_double():
    assert double(2) == 4
"""


@pytest.fixture
def calc_repo(make_repo):
    return make_repo({"pkg/__init__.py": "", "pkg/calc.py": CALC, "tests/test_calc.py": TESTS})


def _collect(sandbox, root: Path, nodeids=()) -> CoverageMap:
    return collect_coverage(
        sandbox, root, ("python", "-m", "pytest", "-q"), nodeids, limits=Limits(wall_s=120)
    )


def test_coverage_run_records_lines_outcomes_and_frames_per_test(sandbox, calc_repo):
    cov = _collect(sandbox, calc_repo)
    assert cov.complete
    outcomes = {o.nodeid: o.outcome for o in cov.outcomes}
    assert outcomes == {
        "tests/test_calc.py::test_positive": Outcome.PASSED,
        "tests/test_calc.py::test_zero": Outcome.PASSED,
        "tests/test_calc.py::test_negative": Outcome.FAILED,
        "tests/test_calc.py::test_very_negative": Outcome.FAILED,
        "tests/test_calc.py::test_double": Outcome.PASSED,
    }
    assert cov.lines["tests/test_calc.py::test_negative"]["pkg/calc.py"] == (2, 5)
    assert cov.lines["tests/test_calc.py::test_double"]["pkg/calc.py"] == (9,)
    failing = cov.report().by_id()["tests/test_calc.py::test_negative"]
    assert failing.message.startswith("AssertionError")
    assert [(f.path, f.function, f.in_repo) for f in failing.frames] == [
        ("tests/test_calc.py", "test_negative", True)
    ]


def test_sbfl_ranks_the_buggy_line_first(sandbox, calc_repo):
    cov = _collect(sandbox, calc_repo)
    lines = ochiai(cov, root=calc_repo, level="line")
    assert (lines[0].path, lines[0].start_line) == ("pkg/calc.py", BUGGY_LINE)
    assert lines[0].score == 1.0
    assert lines[0].symbol == "classify"
    assert lines[1].score < 1.0
    # Test files never count, and lines no failing test ran are absent.
    assert all(loc.path == "pkg/calc.py" for loc in lines)
    assert 9 not in {loc.start_line for loc in lines}
    functions = ochiai(cov, root=calc_repo)
    assert [(f.symbol, f.start_line, f.end_line) for f in functions] == [("classify", 1, 5)]
    assert functions[0].signals == {"sbfl": 1.0}


def test_ochiai_counts_given_failing_and_passing_tests(calc_repo):
    cov = CoverageMap(
        lines={
            "t::fail": {"pkg/calc.py": (2, 6), "tests/test_calc.py": (12,)},
            "t::pass": {"pkg/calc.py": (2, 3, 4)},
        }
    )
    scores = line_scores(cov, ["t::fail"], ["t::pass"])
    assert scores[("pkg/calc.py", 6)] == (1.0, 1, 0)
    assert scores[("pkg/calc.py", 2)][0] == pytest.approx(1 / 2**0.5)
    assert ("tests/test_calc.py", 12) not in scores
    with pytest.raises(ValueError, match="root"):
        ochiai(cov, ["t::fail"], ["t::pass"])


def test_a_selection_runs_only_those_tests(sandbox, calc_repo):
    cov = _collect(sandbox, calc_repo, ["tests/test_calc.py::test_negative"])
    assert [o.nodeid for o in cov.outcomes] == ["tests/test_calc.py::test_negative"]
    assert set(cov.lines) == {"tests/test_calc.py::test_negative"}


def test_project_warning_filters_do_not_break_the_coverage_run(sandbox, make_repo):
    root = make_repo(
        {
            "pytest.ini": "[pytest]\nfilterwarnings = error\n",
            "mod.py": "def f():\n    return 1\n",
            "test_mod.py": "from mod import f\n\ndef test_f():\n    assert f() == 2\n",
        }
    )
    cov = _collect(sandbox, root)
    assert cov.lines["test_mod.py::test_f"]["mod.py"] == (2,)


def test_a_run_that_collects_nothing_says_so(sandbox, make_repo):
    root = make_repo({"test_bad.py": "import not_a_module_anywhere\n"})
    cov = _collect(sandbox, root)
    # A collection error is not a test outcome; with no tests there is nothing to localize.
    assert cov.outcomes == ()
    assert cov.lines == {}


def test_an_interpreter_that_cannot_run_pytest_is_an_infrastructure_error(sandbox, calc_repo):
    with pytest.raises(InfrastructureError, match="no data"):
        collect_coverage(
            sandbox,
            calc_repo,
            ("python", "-m", "pytest"),
            limits=Limits(wall_s=60),
            python=sys.executable + "-does-not-exist",
        )


def test_a_command_that_is_not_pytest_is_refused(sandbox, calc_repo):
    with pytest.raises(UsageError, match="pytest"):
        collect_coverage(sandbox, calc_repo, ("make", "test"))


def test_a_test_that_hangs_is_stopped_by_the_per_test_timeout(sandbox, make_repo):
    root = make_repo(
        {
            "loop.py": "def spin():\n    while True:\n        pass\n",
            "test_loop.py": "from loop import spin\n\ndef test_spin():\n    spin()\n",
        }
    )
    cov = collect_coverage(
        sandbox, root, ("python", "-m", "pytest"), limits=Limits(wall_s=60), test_timeout=0.5
    )
    (outcome,) = cov.outcomes
    assert outcome.outcome == Outcome.TIMEOUT
    assert ("loop.py", "spin") in [(f.path, f.function) for f in outcome.frames]


def test_timeouts_raised_from_signal_handlers_do_not_deadlock_the_tracer(sandbox, make_repo):
    # A project's own SIGALRM timeout can interrupt the tracer while it holds its data lock;
    # thirty interrupted tests made the run hang most times before the lock was made safe.
    root = make_repo(
        {
            "conftest.py": """
            import signal

            import pytest


            class TestTimeout(BaseException):
                __test__ = False


            @pytest.hookimpl(hookwrapper=True)
            def pytest_runtest_call(item):
                def on_alarm(signum, frame):
                    raise TestTimeout("too slow")

                signal.signal(signal.SIGALRM, on_alarm)
                signal.setitimer(signal.ITIMER_REAL, 0.05)
                try:
                    yield
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            """,
            "spin.py": """
            def ok(n):
                return n > 0


            def spin(n):
                while ok(n):
                    n += 1
            """,
            "test_spin.py": """
            import pytest

            from spin import spin


            @pytest.mark.parametrize("n", range(30))
            def test_spin(n):
                spin(n + 1)
            """,
        }
    )
    cov = collect_coverage(sandbox, root, ("python", "-m", "pytest"), limits=Limits(wall_s=60))
    assert cov.process is not None
    assert cov.process.killed_by is None
    assert len(cov.outcomes) == 30
    assert {o.outcome for o in cov.outcomes} == {Outcome.TIMEOUT}
    assert cov.complete
