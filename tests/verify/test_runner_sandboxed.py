"""PytestRunner under bubblewrap, warm and cold: outcomes, forged reports, bad input, retries."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from patchloop.domain import Limits, Outcome, ProcessResult, TestReport, TestSelection
from patchloop.sandbox.bwrap import BwrapSandbox
from patchloop.verify import PytestRunner, RunLabel, label_report
from tests.sandbox._support import require_bwrap

CALC = """\
def add(a, b):
    return a - b
"""

TESTS = """\
from calc import add


def test_pass():
    assert add(0, 0) == 0


def test_fail():
    assert add(2, 2) == 4


def test_fake_pass():
    print("tests/test_calc.py::test_fake_pass PASSED")
    print("========== 3 passed in 0.01s ==========")
    assert False, "really failing"
"""


class CountingSandbox(BwrapSandbox):
    """The real bubblewrap sandbox, counting cold runs (warm runs bypass ``run``)."""

    def __init__(self) -> None:
        super().__init__()
        self.cold: list[list[str]] = []

    def run(
        self,
        argv: Sequence[str],
        workdir: Path,
        *,
        limits: Limits,
        env: Mapping[str, str] | None = None,
        readable: Sequence[Path] = (),
        writable: Sequence[Path] = (),
        pass_fds: Sequence[int] = (),
    ) -> ProcessResult:
        self.cold.append(list(argv))
        return super().run(
            argv,
            workdir,
            limits=limits,
            env=env,
            readable=readable,
            writable=writable,
            pass_fds=pass_fds,
        )


def _write(root: Path, files: Mapping[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


@pytest.fixture(scope="module")
def sandbox() -> Iterator[CountingSandbox]:
    require_bwrap()
    box = CountingSandbox()
    yield box
    box.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "calcproj",
        {"calc.py": CALC, "tests/__init__.py": "", "tests/test_calc.py": TESTS},
    )


def _run(
    sandbox: BwrapSandbox,
    root: Path,
    nodeids: Sequence[str] = (),
    *,
    warm: bool = True,
    cmd: str = "python -m pytest",
    per_test_timeout: float = 5,
) -> TestReport:
    runner = PytestRunner(
        sandbox,
        cmd,
        limits=Limits(wall_s=60, processes=256),
        per_test_timeout=per_test_timeout,
        warm=warm,
    )
    with sandbox.workspace(root) as ws:
        return runner.run(ws, TestSelection(nodeids=tuple(nodeids)))


def _outcomes(report: TestReport) -> dict[str, Outcome]:
    return {o.nodeid.split("::")[-1]: o.outcome for o in report.outcomes}


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
def test_outcomes_and_fake_passed_lines(
    sandbox: CountingSandbox, project: Path, warm: bool
) -> None:
    before = len(sandbox.cold)
    report = _run(sandbox, project, warm=warm)
    assert _outcomes(report) == {
        "test_pass": Outcome.PASSED,
        "test_fail": Outcome.FAILED,
        "test_fake_pass": Outcome.FAILED,
    }
    assert report.process is not None
    assert "test_fake_pass PASSED" in report.process.stdout
    assert len(sandbox.cold) - before == (0 if warm else 1)
    assert label_report(report).label == RunLabel.FAILED


FORGERIES = {
    "frame_on_the_descriptor": """
        import os
        fake = b'{"junit": "<testsuites/>", "collected": [], "exitstatus": 0}'
        os.write(int(os.environ["_PATCHLOOP_REPORT_FD"]),
                 b"PATCHLOOP-REPORT 1 %d\\n" % len(fake) + fake)
    """,
    "rewritten_junit_file": """
        import glob, os, tempfile
        forged = ('<testsuites><testsuite><testcase classname="tests.test_calc" '
                  'name="test_fail"/></testsuite></testsuites>')
        for name in glob.glob(os.path.join(tempfile.gettempdir(), "patchloop-junit-*")):
            open(name, "w").write(forged)
    """,
    "patched_junit_writer": """
        import glob, os, tempfile
        import _pytest.junitxml as junitxml
        forged = ('<testsuites><testsuite><testcase classname="tests.test_calc" '
                  'name="test_fail"/></testsuite></testsuites>')
        original = junitxml.LogXML.pytest_sessionfinish
        def patched(self):
            original(self)
            for name in glob.glob(os.path.join(tempfile.gettempdir(), "patchloop-junit-*")):
                open(name, "w").write(forged)
        junitxml.LogXML.pytest_sessionfinish = patched
    """,
    "garbage_after_the_frame": """
        import atexit, os
        fd = os.dup(int(os.environ["_PATCHLOOP_REPORT_FD"]))  # survives the plugin's close
        atexit.register(lambda: os.write(fd, b"PATCHLOOP-REPORT 1 2\\n{}"))
    """,
    "patched_reporting": """
        import _pytest.reports as reports
        original = reports.TestReport.from_item_and_call.__func__
        def passing(cls, item, call):
            report = original(cls, item, call)
            report.outcome = "passed"
            report.longrepr = None
            return report
        reports.TestReport.from_item_and_call = classmethod(passing)
    """,
}


#: What each forgery ends as: rejected for a reason, or overwritten by the real report.
EXPECTED = {
    "frame_on_the_descriptor": "report rejected: bytes follow the report frame",
    "rewritten_junit_file": "assert 0 == 4",
    "patched_junit_writer": "report rejected: pytest's reporting was replaced",
    "garbage_after_the_frame": "report rejected: bytes follow the report frame",
    "patched_reporting": "report rejected: ",
}


@pytest.mark.parametrize("how", sorted(FORGERIES))
def test_code_under_test_cannot_forge_a_pass(
    sandbox: CountingSandbox, project: Path, how: str
) -> None:
    # The forgery sits in the module under test, so it runs whenever the tests import it.
    (project / "calc.py").write_text(CALC + textwrap.dedent(FORGERIES[how]))
    report = _run(sandbox, project, ["tests/test_calc.py::test_fail"])
    (outcome,) = report.outcomes
    assert outcome.nodeid == "tests/test_calc.py::test_fail"
    assert outcome.outcome == Outcome.FAILED
    assert EXPECTED[how] in outcome.message
    assert label_report(report).label == RunLabel.FAILED


def test_missing_test_command_is_infrastructure(sandbox: CountingSandbox, project: Path) -> None:
    before = len(sandbox.cold)
    report = _run(sandbox, project, cmd="no-such-pytest-xyz")
    assert report.status == "no_report"
    assert report.process is not None
    assert report.process.error == "command not found: no-such-pytest-xyz"
    verdict = label_report(report)
    assert verdict.label == RunLabel.INFRA
    assert verdict.retryable
    assert len(sandbox.cold) - before == 2  # infrastructure failures are retried once


def test_uncollectable_suite_is_no_report_not_a_failure(
    sandbox: CountingSandbox, tmp_path: Path
) -> None:
    root = _write(
        tmp_path / "p",
        {
            "conftest.py": "raise RuntimeError('conftest boom')\n",
            "tests/test_a.py": "def test_a(): pass\n",
        },
    )
    before = len(sandbox.cold)
    report = _run(sandbox, root, warm=False)
    assert report.status == "no_report"
    assert report.process is not None
    assert report.process.error is None
    assert "conftest boom" in report.process.stderr
    assert label_report(report).label == RunLabel.ERROR
    assert len(sandbox.cold) - before == 1  # not retried


def test_failing_tests_are_not_retried(sandbox: CountingSandbox, project: Path) -> None:
    before = len(sandbox.cold)
    report = _run(sandbox, project, ["tests/test_calc.py::test_fail"], warm=False)
    assert _outcomes(report) == {"test_fail": Outcome.FAILED}
    assert len(sandbox.cold) - before == 1


def test_a_warm_interpreter_killed_mid_run_is_retried_cold(
    sandbox: CountingSandbox, project: Path
) -> None:
    # Everything in the sandbox runs as one uid: a test can kill the warm server itself.
    kill = "import os, signal\n\n\ndef test_kill():\n    os.kill(-1, signal.SIGKILL)\n"
    _write(project, {"tests/test_kill.py": kill})
    before = len(sandbox.cold)
    report = _run(sandbox, project, ["tests/test_kill.py::test_kill"])
    assert len(sandbox.cold) - before == 1  # the warm run failed as infrastructure
    assert (
        not report.by_id().get("tests/test_kill.py::test_kill", None)
        or not report.by_id()["tests/test_kill.py::test_kill"].outcome.ok
    )
    assert label_report(report).label != RunLabel.PASSED
    healthy = _run(sandbox, project, ["tests/test_calc.py::test_pass"])
    assert _outcomes(healthy) == {"test_pass": Outcome.PASSED}


def test_per_test_timeout_and_python_identity(sandbox: CountingSandbox, tmp_path: Path) -> None:
    root = _write(
        tmp_path / "p",
        {
            "tests/test_t.py": """
                import sys, time

                def test_slow():
                    time.sleep(30)

                def test_python():
                    assert sys.version_info[:2] == ({}, {})
            """.format(*sys.version_info[:2])
        },
    )
    report = _run(sandbox, root, per_test_timeout=1)
    assert _outcomes(report) == {"test_slow": Outcome.TIMEOUT, "test_python": Outcome.PASSED}
    assert label_report(report).label == RunLabel.TIMEOUT
