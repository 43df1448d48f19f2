"""Patches that delete or skip the failing test, or add a conftest forcing a pass, grade failed.

Two layers: the tamper guard rejects such patches outright; and should a task allow test edits,
verification itself still does not call them green (a deleted test is missing, a skipped one is
not a pass, a hook that turns a raising test into a pass gets the report rejected).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.domain import FileChange, Limits, Outcome, Patch, TestSelection
from patchloop.edits.diff import make_patch
from patchloop.errors import GuardError
from patchloop.sandbox.bwrap import BwrapSandbox
from patchloop.verify import PytestRunner, check_patch

TEST_FILE = "tests/test_calc.py"
TARGET = f"{TEST_FILE}::test_add"
CALC = "def add(a, b):\n    return a - b\n"
TESTS = "from calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n"
FORCING_CONFTEST = """\
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"
    report.longrepr = None
"""

PATCHES = {
    "deletes_the_test": [FileChange(path=TEST_FILE, before=TESTS, after=None)],
    "skips_the_test": [
        FileChange(
            path=TEST_FILE,
            before=TESTS,
            after=TESTS.replace(
                "def test_add", "import pytest\n\n\n@pytest.mark.skip\ndef test_add"
            ),
        )
    ],
    "empties_the_test": [
        FileChange(path=TEST_FILE, before=TESTS, after=TESTS.replace("assert add", "add"))
    ],
    "adds_a_conftest_forcing_a_pass": [
        FileChange(path="conftest.py", before=None, after=FORCING_CONFTEST)
    ],
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tamper") / "proj"
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text(CALC)
    (root / "tests" / "__init__.py").write_text("")
    (root / TEST_FILE).write_text(TESTS)
    return root


def _apply(workspace: Path, patch: Patch) -> None:
    for change in patch.changes:
        target = workspace / change.path
        if change.after is None:
            target.unlink()
        else:
            target.write_text(change.after)


@pytest.fixture(scope="module")
def runner(bwrap: BwrapSandbox) -> PytestRunner:
    return PytestRunner(bwrap, "python -m pytest", limits=Limits(wall_s=60, processes=256))


@pytest.mark.parametrize("name", sorted(PATCHES))
def test_the_guard_rejects_it(name: str) -> None:
    patch = make_patch(PATCHES[name], label=name)
    with pytest.raises(GuardError) as caught:
        check_patch(patch, allow_test_edits=False)
    assert "protected" in str(caught.value)
    check_patch(patch, allow_test_edits=True)  # allowed only when the task says so


@pytest.mark.parametrize(
    "name", ["deletes_the_test", "skips_the_test", "adds_a_conftest_forcing_a_pass"]
)
def test_verification_does_not_call_it_green(
    bwrap: BwrapSandbox, runner: PytestRunner, template: Path, name: str
) -> None:
    patch = make_patch(PATCHES[name], label=name)
    with bwrap.workspace(template) as ws:
        _apply(ws, patch)
        report = runner.run(ws, TestSelection(nodeids=(TARGET,), fail_fast=True))
    outcome = report.by_id()[TARGET]
    assert not outcome.outcome.ok
    expected = {
        "deletes_the_test": Outcome.MISSING,
        "skips_the_test": Outcome.SKIPPED,
        "adds_a_conftest_forcing_a_pass": Outcome.FAILED,
    }[name]
    assert outcome.outcome == expected
    if name == "adds_a_conftest_forcing_a_pass":
        assert outcome.message.startswith("report rejected: ")
        assert "raised" in outcome.message
