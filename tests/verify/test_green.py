"""The one rule for a green target: every test a node id names passed."""

from __future__ import annotations

import pytest

from patchloop.domain import Outcome, TestOutcome
from patchloop.verify.green import is_green, named_by

IDS = (
    "tests/unit/test_a.py::TestCart::test_add",
    "tests/unit/test_a.py::TestCart::test_total[1]",
    "tests/unit/test_a.py::test_free",
    "tests/test_b.py::test_b",
)


def outcomes(**changed: Outcome) -> dict[str, TestOutcome]:
    found = {}
    for nodeid in IDS:
        key = nodeid.rsplit("::", 1)[-1].split("[")[0]
        found[nodeid] = TestOutcome(nodeid=nodeid, outcome=changed.get(key, Outcome.PASSED))
    return found


@pytest.mark.parametrize(
    "target",
    [
        "tests/unit/test_a.py::TestCart",  # a class
        "tests/unit/test_a.py",  # a module
        "tests/unit",  # a directory
        "tests/unit/",
        "tests/unit/test_a.py::TestCart::test_total",  # a parametrized function
    ],
)
def test_classes_modules_and_directories_need_every_test_they_name(target: str) -> None:
    assert is_green(target, outcomes())
    assert not is_green(target, outcomes(test_add=Outcome.FAILED, test_total=Outcome.FAILED))


def test_a_name_that_names_no_test_is_never_green() -> None:
    assert not is_green("tests/unit/test_c.py", outcomes())
    assert not is_green("tests/uni", outcomes())  # a prefix of a name is no directory
    assert not named_by("tests/test_b", "tests/test_b.py::test_b")


def test_a_missing_outcome_of_a_module_falls_back_to_its_tests() -> None:
    found = outcomes()
    found["tests/test_b.py"] = TestOutcome(nodeid="tests/test_b.py", outcome=Outcome.MISSING)
    assert is_green("tests/test_b.py", found)
    # A collection error of the module itself is not green.
    found["tests/test_b.py"] = TestOutcome(nodeid="tests/test_b.py", outcome=Outcome.ERROR)
    assert not is_green("tests/test_b.py", found)


@pytest.mark.parametrize("outcome", [Outcome.XFAILED, Outcome.XPASSED, Outcome.SKIPPED])
def test_xfail_and_skip_count_only_unchanged_since_the_baseline(outcome: Outcome) -> None:
    now = outcomes(test_b=outcome)
    assert not is_green("tests/test_b.py::test_b", now)  # the judge: passes only
    assert not is_green(
        "tests/test_b.py::test_b", now, baseline=outcomes(test_b=Outcome.FAILED)
    )  # code that calls pytest.xfail() fixes nothing
    assert not is_green("tests/test_b.py::test_b", now, baseline=outcomes())
    assert is_green("tests/test_b.py::test_b", now, baseline=outcomes(test_b=outcome))
