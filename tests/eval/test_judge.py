"""The harness's own verdict: clean copy, diff applied, protected files restored, tests run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from patchloop.config import Config, SandboxSettings
from patchloop.domain import FileChange, Outcome, TestOutcome
from patchloop.edits import make_patch
from patchloop.errors import InfrastructureError
from patchloop.eval import (
    Judgement,
    SuiteTask,
    judge,
    parse_suite,
    protected_paths,
    restore_protected,
)
from patchloop.sandbox import get_sandbox
from patchloop.verify.green import is_green
from tests.conftest import CALC, TEST_CALC
from tests.eval.suites import broken_task, calc_task, lines_of

#: The default sandbox (isolated where bubblewrap works, else local).
CONFIG = Config()
FIXED = CALC.replace(
    "        return low\n    return value", "        return high\n    return value"
)


def calc() -> SuiteTask:
    return parse_suite(lines_of(calc_task())).tasks[0]


def diff(changes: dict[str, tuple[str | None, str | None]]) -> str:
    return make_patch([FileChange(path=p, before=b, after=a) for p, (b, a) in changes.items()]).diff


def run(task: SuiteTask, text: str, config: Config = CONFIG) -> Judgement:
    sandbox = get_sandbox(config.sandbox)
    return judge(task, text, sandbox=sandbox, config=config, per_test_timeout=5)


@pytest.mark.parametrize("kind", ["auto", "local"])
def test_a_real_fix_passes(kind: str) -> None:
    assert FIXED != CALC
    config = Config(sandbox=SandboxSettings(kind=kind))
    verdict = run(calc(), diff({"calc.py": (CALC, FIXED)}), config)
    assert verdict.passed, verdict
    assert verdict.error is None
    assert verdict.failing == ()
    assert set(verdict.outcomes.values()) == {"passed"}
    assert len(verdict.outcomes) == 4
    assert verdict.seconds > 0


def test_a_diff_that_only_edits_the_tests_is_judged_on_the_original_tests() -> None:
    cheat = TEST_CALC.replace("== 10", "== 0")
    new_conftest = "import pytest\n\n@pytest.fixture(autouse=True)\ndef x():\n    pass\n"
    text = diff(
        {
            "test_calc.py": (TEST_CALC, cheat),
            "sub/conftest.py": (None, new_conftest),
            "pytest.ini": ("[pytest]\naddopts = -p no:cacheprovider\n", "[pytest]\n"),
        }
    )
    verdict = run(calc(), text)
    assert not verdict.passed
    assert verdict.failing == ("test_calc.py::test_clamp_high",)
    assert verdict.outcomes["test_calc.py::test_clamp_high"] == "failed"
    assert verdict.restored == ("pytest.ini", "sub/conftest.py", "test_calc.py")


def test_a_skipped_test_does_not_count_as_passed() -> None:
    skipping = CALC.replace(
        "    if value > high:\n        return low",
        "    if value > high:\n        import pytest\n        pytest.skip('not today')",
    )
    verdict = run(calc(), diff({"calc.py": (CALC, skipping)}))
    assert not verdict.passed
    assert verdict.outcomes["test_calc.py::test_clamp_high"] == "skipped"


def test_a_diff_that_does_not_apply_is_not_a_pass() -> None:
    verdict = run(calc(), diff({"calc.py": ("something else\n", "x\n")}))
    assert not verdict.passed
    assert verdict.error == "apply"
    assert "does not apply" in verdict.detail


def test_a_test_command_that_cannot_run_is_infrastructure() -> None:
    task = parse_suite(lines_of(broken_task())).tasks[0]
    verdict = run(task, diff({"calc.py": (CALC, FIXED)}))
    assert not verdict.passed
    assert verdict.error == "infra"
    assert "no-such-test-runner-xyz" in verdict.detail


def test_protected_paths_follow_the_contract() -> None:
    task = SuiteTask(
        id="t/x",
        task="",
        files={
            "pkg/mod.py": "",
            "tests/test_a.py": "",
            "tests/conftest.py": "",
            "helper_test_data.py": "",
            "pyproject.toml": "[project]\nname = 'x'\n",
            "setup.cfg": "[tool:pytest]\naddopts = -q\n",
        },
        test_cmd="python -m pytest",
        fail_to_pass=("tests/test_a.py::test_one[1-2]",),
        pass_to_pass=("tests/test_b.py",),
    )
    present = {
        "pkg/mod.py": "",
        "pkg/conftest.py": "",
        "pytest.ini": "[pytest]\n",
        "pyproject.toml": "[project]\nname = 'x'\n",
        "tox.ini": "[tox]\n",
    }
    assert protected_paths(task, present) == {
        "tests/test_a.py",
        "tests/test_b.py",
        "tests/conftest.py",
        "pkg/conftest.py",
        "pytest.ini",
        "setup.cfg",
    }


def test_restore_puts_back_deletes_and_leaves_the_rest(tmp_path: Path) -> None:
    task = calc()
    (tmp_path / "calc.py").write_text(FIXED)
    (tmp_path / "test_calc.py").write_text("changed\n")
    (tmp_path / "conftest.py").write_text("new\n")
    (tmp_path / "pytest.ini").write_text(task.files["pytest.ini"])
    assert restore_protected(task, tmp_path) == ("conftest.py", "test_calc.py")
    assert (tmp_path / "test_calc.py").read_text() == TEST_CALC
    assert not (tmp_path / "conftest.py").exists()
    assert (tmp_path / "calc.py").read_text() == FIXED


@pytest.mark.parametrize(
    ("outcome", "passed"),
    [
        (Outcome.PASSED, True),
        (Outcome.SKIPPED, False),
        (Outcome.XFAILED, False),
        (Outcome.XPASSED, False),
        (Outcome.TIMEOUT, False),
        (Outcome.MISSING, False),
    ],
)
def test_only_passed_counts(outcome: Outcome, passed: bool) -> None:
    outcomes = {"t.py::a": TestOutcome(nodeid="t.py::a", outcome=outcome)}
    assert is_green("t.py::a", outcomes) is passed


def test_a_file_level_id_needs_all_its_tests() -> None:
    ok = TestOutcome(nodeid="t.py::a", outcome=Outcome.PASSED)
    bad = TestOutcome(nodeid="t.py::b", outcome=Outcome.FAILED)
    assert is_green("t.py", {"t.py::a": ok})
    assert not is_green("t.py", {"t.py::a": ok, "t.py::b": bad})
    assert not is_green("t.py", {})


class BrokenSandbox:
    """A sandbox whose workspaces cannot be made (a full or unwritable scratch directory)."""

    name = "broken"

    def workspace(self, template: Path) -> Any:
        raise InfrastructureError(f"cannot copy {template}: no space left on device")

    def run(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("never reached")

    def close(self) -> None:
        pass


def test_a_sandbox_failure_is_infrastructure_not_a_verdict() -> None:
    sandbox: Any = BrokenSandbox()
    verdict = judge(
        calc(), diff({"calc.py": (CALC, FIXED)}), sandbox=sandbox, config=CONFIG, per_test_timeout=5
    )
    assert not verdict.passed
    assert verdict.error == "infra"
    assert "no space left" in verdict.detail
