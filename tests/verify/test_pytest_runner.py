"""PytestRunner on real pytest processes in the local sandbox."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from patchloop.domain import Limits, Outcome, ProcessResult, TestReport, TestSelection
from patchloop.sandbox.local import LocalSandbox
from patchloop.verify import PytestRunner, render_failures
from patchloop.verify.pytest_runner import (
    PLUGIN_MODULE,
    REPORT_FD_ENV,
    REPORT_PATH_ENV,
    build_report,
)

CALC = """\
def add(a, b):
    return a - b


def parse(text):
    import json
    return json.loads(text)
"""

TESTS = """\
import pytest

from calc import add, parse


def test_pass():
    assert add(0, 0) == 0


def test_fail():
    assert add(2, 2) == 4


def test_outside_frame():
    parse("{")


@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")


def test_error(broken):
    pass


@pytest.mark.skip(reason="not today")
def test_skip():
    pass


@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert add(1, 1) == 2


@pytest.mark.xfail(reason="maybe")
def test_xpass():
    pass


@pytest.mark.parametrize("n", [0, 1])
def test_param(n):
    assert add(n, 0) == n
    assert add(0, n) == n


class TestGroup:
    def test_method(self):
        assert True

    def test_method_fail(self):
        assert add(1, 2) == 3


def test_fake_pass():
    print("tests/test_calc.py::test_fake_pass PASSED")
    print("PASSED tests/test_calc.py::test_fail")
    print("========== 14 passed in 0.01s ==========")
    assert False, "really failing"


def test_hang():
    while True:
        try:
            while True:
                pass
        except Exception:
            pass  # a timeout that is an Exception would be swallowed here


def test_after_hang():
    assert True
"""


def _write(root: Path, files: Mapping[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


class SpySandbox(LocalSandbox):
    """The real local sandbox, remembering what it was asked to run."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[list[str], Path, dict[str, str], list[Path], list[int]]] = []

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
        self.calls.append((list(argv), workdir, dict(env or {}), list(readable), list(pass_fds)))
        return super().run(
            argv,
            workdir,
            limits=limits,
            env=env,
            readable=readable,
            writable=writable,
            pass_fds=pass_fds,
        )


class NoFdSandbox:
    """A sandbox that does not declare :class:`PassesDescriptors`: no ``pass_fds`` for ``run``."""

    name = "nofd"

    def __init__(self) -> None:
        self.inner = LocalSandbox()
        self.writable: list[Path] = []
        self.env: dict[str, str] = {}

    def workspace(self, template: Path) -> AbstractContextManager[Path]:
        return self.inner.workspace(template)

    def run(
        self,
        argv: Sequence[str],
        workdir: Path,
        *,
        limits: Limits,
        env: Mapping[str, str] | None = None,
        readable: Sequence[Path] = (),
        writable: Sequence[Path] = (),
    ) -> ProcessResult:
        self.writable = list(writable)
        self.env = dict(env or {})
        return self.inner.run(
            argv, workdir, limits=limits, env=env, readable=readable, writable=writable
        )

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("proj") / "calcproj"
    return _write(
        root,
        {
            "calc/__init__.py": CALC,
            "tests/__init__.py": "",
            "tests/test_calc.py": TESTS,
            "tests/test_broken.py": "import no_such_module_xyz\n",
            "tests/test_other.py": "def test_ok():\n    assert True\n",
        },
    )


@pytest.fixture(scope="module")
def sandbox() -> SpySandbox:
    return SpySandbox()


@pytest.fixture(scope="module")
def workspace(sandbox: SpySandbox, project: Path) -> Iterator[Path]:
    with sandbox.workspace(project) as ws:
        yield ws


def _runner(sandbox: LocalSandbox, cmd: str = "python -m pytest") -> PytestRunner:
    # Cold runs: the spy sees every command (warm runs are covered in test_runner_sandboxed).
    return PytestRunner(sandbox, cmd, limits=Limits(wall_s=60), per_test_timeout=1, warm=False)


@pytest.fixture(scope="module")
def full(sandbox: SpySandbox, workspace: Path) -> TestReport:
    return _runner(sandbox).run(workspace, TestSelection())


def test_outcomes_per_node_id(full: TestReport) -> None:
    got = {o.nodeid: o.outcome for o in full.outcomes}
    t = "tests/test_calc.py::"
    assert got == {
        "tests/test_broken.py": Outcome.ERROR,
        t + "test_pass": Outcome.PASSED,
        t + "test_fail": Outcome.FAILED,
        t + "test_outside_frame": Outcome.FAILED,
        t + "test_error": Outcome.ERROR,
        t + "test_skip": Outcome.SKIPPED,
        t + "test_xfail": Outcome.XFAILED,
        t + "test_xpass": Outcome.XPASSED,
        t + "test_param[0]": Outcome.PASSED,
        t + "test_param[1]": Outcome.FAILED,
        t + "TestGroup::test_method": Outcome.PASSED,
        t + "TestGroup::test_method_fail": Outcome.FAILED,
        t + "test_fake_pass": Outcome.FAILED,
        t + "test_hang": Outcome.TIMEOUT,
        t + "test_after_hang": Outcome.PASSED,
        "tests/test_other.py::test_ok": Outcome.PASSED,
    }
    assert full.status == "ok"
    assert full.process is not None
    assert full.process.exit_code == 1


def test_messages(full: TestReport) -> None:
    by_id = full.by_id()
    t = "tests/test_calc.py::"
    assert by_id[t + "test_fail"].message == "assert 0 == 4"
    assert "assert add(2, 2) == 4" in by_id[t + "test_fail"].details
    assert "fixture broke" in by_id[t + "test_error"].message
    assert by_id[t + "test_skip"].message == "not today"
    assert by_id[t + "test_xfail"].message == "known bug"
    assert by_id[t + "test_hang"].message == "timeout: test ran longer than 1 s"
    assert "no_such_module_xyz" in by_id["tests/test_broken.py"].details


def test_frames_are_repo_relative(full: TestReport) -> None:
    by_id = full.by_id()
    fail = by_id["tests/test_calc.py::test_fail"]
    assert [(f.path, f.line, f.function, f.in_repo) for f in fail.frames] == [
        ("tests/test_calc.py", 11, "test_fail", True)
    ]
    method = by_id["tests/test_calc.py::TestGroup::test_method_fail"]
    assert method.frames[-1].function == "test_method_fail"
    outside = by_id["tests/test_calc.py::test_outside_frame"].frames
    assert [f.path for f in outside if f.in_repo] == ["tests/test_calc.py", "calc/__init__.py"]
    assert any(not f.in_repo and f.path.endswith("json/decoder.py") for f in outside)
    hang = by_id["tests/test_calc.py::test_hang"].frames
    assert hang
    assert hang[-1].path == "tests/test_calc.py"
    assert hang[-1].in_repo


def test_no_temporary_paths_leak(full: TestReport, workspace: Path) -> None:
    for outcome in full.outcomes:
        for text in (outcome.message, outcome.details, *(f.path for f in outcome.frames)):
            assert str(workspace) not in text
            assert "patchloop-ws-" not in text
            assert "patchloop-report-" not in text
            assert "patchloop-plugin-" not in text
    assert full.process is not None
    assert str(workspace) not in full.process.stdout


def test_fake_passed_lines_change_nothing(full: TestReport) -> None:
    assert full.process is not None
    # The forged lines did reach the log (pytest shows captured output of failures)...
    assert "PASSED tests/test_calc.py::test_fail" in full.process.stdout
    # ...and the outcomes, read from the junit XML, ignore them.
    assert full.by_id()["tests/test_calc.py::test_fail"].outcome == Outcome.FAILED
    assert full.by_id()["tests/test_calc.py::test_fake_pass"].outcome == Outcome.FAILED


def test_command_and_report_location(
    sandbox: SpySandbox, full: TestReport, workspace: Path
) -> None:
    argv, workdir, env, readable, fds = sandbox.calls[0]
    assert argv[:3] == [sys.executable, "-m", "pytest"]
    assert argv[argv.index("-p") + 1] == PLUGIN_MODULE
    assert "no:cacheprovider" in argv
    assert not any(a.startswith("--junitxml") for a in argv)  # no report path to find or forge
    assert env[REPORT_FD_ENV] == str(fds[0])
    assert env["PYTHONPATH"] == str(readable[0])
    assert (readable[0] / f"{PLUGIN_MODULE}.py").is_file()
    assert workdir == workspace
    assert not (workspace / ".pytest_cache").exists()
    assert not list(workspace.rglob("*.xml"))


def test_report_through_a_file_when_the_sandbox_cannot_pass_descriptors(
    project: Path,
) -> None:
    sandbox = NoFdSandbox()
    runner = PytestRunner(sandbox, "python -m pytest", limits=Limits(wall_s=60))
    with sandbox.workspace(project) as ws:
        report = runner.run(ws, TestSelection(nodeids=("tests/test_other.py::test_ok",)))
        (report_dir,) = sandbox.writable
        assert not report_dir.is_relative_to(ws)
        assert sandbox.env[REPORT_PATH_ENV].startswith(str(report_dir))
    assert [(o.nodeid, o.outcome) for o in report.outcomes] == [
        ("tests/test_other.py::test_ok", Outcome.PASSED)
    ]
    assert not report_dir.exists()


def test_selection_runs_only_those(sandbox: SpySandbox, workspace: Path) -> None:
    selection = TestSelection(
        nodeids=("tests/test_calc.py::test_param", "tests/test_other.py::test_ok")
    )
    report = _runner(sandbox).run(workspace, selection)
    assert {o.nodeid: o.outcome for o in report.outcomes} == {
        "tests/test_calc.py::test_param[0]": Outcome.PASSED,
        "tests/test_calc.py::test_param[1]": Outcome.FAILED,
        "tests/test_other.py::test_ok": Outcome.PASSED,
    }
    assert sandbox.calls[-1][0][-2:] == list(selection.nodeids)


def test_missing_node_id(sandbox: SpySandbox, workspace: Path) -> None:
    report = _runner(sandbox).run(
        workspace, TestSelection(nodeids=("tests/test_calc.py::test_gone",))
    )
    assert report.status == "ok"
    (only,) = report.outcomes
    assert only.nodeid == "tests/test_calc.py::test_gone"
    assert only.outcome == Outcome.MISSING
    assert "no such test" in only.message


def test_a_selected_test_whose_file_fails_to_import_says_why(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "p",
        {
            "mod.py": "x = 1\n",
            "tests/test_mod.py": "from mod import f\n\n\ndef test_f():\n    assert f() == 1\n",
        },
    )
    sandbox = LocalSandbox()
    with sandbox.workspace(root) as ws:
        report = _runner(sandbox).run(ws, TestSelection(nodeids=("tests/test_mod.py::test_f",)))
    missing = next(o for o in report.outcomes if o.nodeid == "tests/test_mod.py::test_f")
    assert missing.outcome == Outcome.MISSING
    assert missing.message.startswith("not run: collecting tests/test_mod.py failed: ImportError")
    assert "cannot import name 'f' from 'mod'" in missing.message
    assert "from mod import f" in missing.details
    assert "cannot import name 'f'" in render_failures(report)


def test_fail_fast(sandbox: SpySandbox, workspace: Path) -> None:
    selection = TestSelection(
        nodeids=("tests/test_calc.py::test_fail", "tests/test_calc.py::test_pass"),
        fail_fast=True,
    )
    report = _runner(sandbox).run(workspace, selection)
    assert "-x" in sandbox.calls[-1][0]
    assert {o.nodeid: o.outcome for o in report.outcomes} == {
        "tests/test_calc.py::test_fail": Outcome.FAILED,
        "tests/test_calc.py::test_pass": Outcome.MISSING,
    }


def test_missing_test_command_is_no_report(sandbox: SpySandbox, workspace: Path) -> None:
    report = _runner(sandbox, "no-such-pytest-xyz").run(workspace, TestSelection())
    assert report.status == "no_report"
    assert report.outcomes == ()
    assert report.process is not None
    assert report.process.error == "command not found: no-such-pytest-xyz"
    assert "command not found" in render_failures(report)


def test_crashing_conftest_is_no_report(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "p",
        {
            "conftest.py": "raise RuntimeError('conftest boom')\n",
            "tests/test_a.py": "def test_a(): pass\n",
        },
    )
    sandbox = LocalSandbox()
    with sandbox.workspace(root) as ws:
        report = _runner(sandbox).run(ws, TestSelection())
    assert report.status == "no_report"
    assert report.process is not None
    assert "conftest boom" in report.process.stderr
    assert str(ws) not in report.process.stderr
    assert "conftest boom" in render_failures(report)


def test_wall_clock_timeout(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "p",
        {"tests/test_a.py": "def test_spin():\n    while True:\n        pass\n"},
    )
    sandbox = LocalSandbox()
    runner = PytestRunner(
        sandbox, "python -m pytest", limits=Limits(wall_s=1.5), per_test_timeout=0
    )
    with sandbox.workspace(root) as ws:
        report = runner.run(ws, TestSelection(nodeids=("tests/test_a.py::test_spin",)))
    assert report.status == "timeout"
    assert [(o.nodeid, o.outcome) for o in report.outcomes] == [
        ("tests/test_a.py::test_spin", Outcome.TIMEOUT)
    ]
    assert "wall-clock" in render_failures(report)


def test_feedback_from_a_real_run_is_deterministic(sandbox: SpySandbox, workspace: Path) -> None:
    selection = TestSelection(
        nodeids=("tests/test_calc.py::test_fail", "tests/test_calc.py::test_outside_frame")
    )
    runner = _runner(sandbox)
    first = render_failures(runner.run(workspace, selection), selection.nodeids, root=workspace)
    with sandbox.workspace(workspace) as other:
        second = render_failures(runner.run(other, selection), selection.nodeids, root=other)
    assert first == second
    assert "FAILED tests/test_calc.py::test_fail" in first
    assert "at tests/test_calc.py:11 in test_fail\n      assert add(2, 2) == 4" in first
    assert "at calc/__init__.py:7 in parse\n      return json.loads(text)" in first
    assert "json/decoder.py" not in first.split("output:")[0]
    assert str(workspace) not in first


def test_python_means_the_harness_interpreter() -> None:
    runner = PytestRunner(
        LocalSandbox(), ["python3", "-m", "pytest"], limits=Limits(), python="/x/py"
    )
    assert runner.cmd == ("/x/py", "-m", "pytest")
    other = PytestRunner(LocalSandbox(), "tox -e py", limits=Limits())
    assert other.cmd == ("tox", "-e", "py")


def test_garbage_in_the_report_channel_is_rejected(tmp_path: Path) -> None:
    process = ProcessResult(argv=("pytest",), exit_code=0, stdout=f"{tmp_path}/x")
    report = build_report(process, b"<not a frame", tmp_path, TestSelection(nodeids=("a::b",)))
    assert [(o.nodeid, o.outcome) for o in report.outcomes] == [("a::b", Outcome.FAILED)]
    assert report.outcomes[0].message.startswith("report rejected: ")
    assert report.process is not None
    assert report.process.stdout == "x"


def test_no_report_at_all(tmp_path: Path) -> None:
    process = ProcessResult(argv=("pytest",), exit_code=1)
    report = build_report(process, None, tmp_path, TestSelection(nodeids=("a::b",)))
    assert report.status == "no_report"
    assert report.outcomes == ()


LONG_CASES = """\
import pytest


def sort(xs):
    return sorted(set(xs))


@pytest.mark.parametrize("xs", [[3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3]])
def test_sort(xs):
    assert sort(xs) == sorted(xs)


@pytest.mark.parametrize("n", [list(range(500))])
def test_huge(n):
    assert n == []
"""


def test_failures_show_values_beyond_six_items_within_a_bound(tmp_path: Path) -> None:
    root = _write(tmp_path / "p", {"tests/test_long.py": LONG_CASES})
    sandbox = LocalSandbox()
    with sandbox.workspace(root) as ws:
        report = _runner(sandbox).run(ws, TestSelection())
    by_id = report.by_id()
    case = by_id["tests/test_long.py::test_sort[xs0]"]
    assert case.outcome == Outcome.FAILED
    # pytest alone prints [1, 2, 3, 4, 5, 6, ...] and xs = [3, 1, 4, 1, 5, 9, ...]
    assert "[1, 2, 3, 4, 5, 6, 7, 8, 9] == [1, 1, 2, 3, 3, 3, 4, 5, 5, 5, 6, 7, 8, 9, 9, 9]" in (
        case.message
    )
    assert case.arguments == "xs = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3]"
    # pytest's own explanation still follows the comparison
    assert "At index 1 diff: 2 != 1" in case.details
    feedback = render_failures(report)
    assert "with xs = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3]" in feedback

    huge = by_id["tests/test_long.py::test_huge[n0]"]
    assert huge.arguments.startswith("n = [0, 1, 2,")
    assert "39, ...]" in huge.arguments
    assert len(huge.arguments) < 400
    assert len(huge.message) < 500


def test_a_projects_own_comparison_explanation_comes_first(tmp_path: Path) -> None:
    conftest = (
        "def pytest_assertrepr_compare(config, op, left, right):\n"
        "    return ['the project explains it']\n"
    )
    root = _write(
        tmp_path / "p",
        {"tests/conftest.py": conftest, "tests/test_a.py": "def test_a():\n    assert 1 == 2\n"},
    )
    sandbox = LocalSandbox()
    with sandbox.workspace(root) as ws:
        report = _runner(sandbox).run(ws, TestSelection())
    (only,) = report.outcomes
    assert "the project explains it" in only.message
