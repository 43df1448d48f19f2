"""Node ids as users type them, and the check against what the baseline collected."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.domain import Outcome, TestOutcome
from patchloop.errors import UsageError
from patchloop.verify.nodeids import check_named_tests, normalize_test_id


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("tests/test_a.py::test_x", "tests/test_a.py::test_x"),
        ("./tests/test_a.py::test_x", "tests/test_a.py::test_x"),
        ("././tests/test_a.py", "tests/test_a.py"),
        ("tests/", "tests"),
        ("tests\\test_a.py::C::test_y[1]", "tests/test_a.py::C::test_y[1]"),
    ],
)
def test_relative_spellings(given: str, expected: str, tmp_path: Path) -> None:
    assert normalize_test_id(given, tmp_path) == expected


def test_absolute_paths_become_relative(tmp_path: Path) -> None:
    nodeid = f"{tmp_path / 'tests' / 'test_a.py'}::test_x"
    assert normalize_test_id(nodeid, tmp_path) == "tests/test_a.py::test_x"


def test_absolute_path_outside_the_repository(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="outside the repository"):
        normalize_test_id("/elsewhere/test_a.py::test_x", tmp_path / "repo")


def _collected(*ids: str) -> dict[str, TestOutcome]:
    return {i: TestOutcome(nodeid=i, outcome=Outcome.PASSED) for i in ids}


def test_known_ids_and_prefixes_pass() -> None:
    outcomes = _collected("tests/test_a.py::test_x", "tests/sub/test_b.py::C::test_y")
    check_named_tests(
        ("tests/test_a.py::test_x", "tests/test_a.py", "tests/sub", "tests/sub/test_b.py::C"),
        outcomes,
    )


def test_unknown_id_names_the_nearest() -> None:
    outcomes = _collected("tests/test_a.py::test_total", "tests/test_a.py::test_other")
    with pytest.raises(UsageError, match=r"no such test: tests/test_a\.py::test_totl") as info:
        check_named_tests(("tests/test_a.py::test_totl",), outcomes)
    assert info.value.hint is not None
    assert "tests/test_a.py::test_total" in info.value.hint


def test_a_prefix_of_a_name_is_not_a_prefix_of_ids() -> None:
    # "tests/test_a" is not a file or a directory of any collected id.
    with pytest.raises(UsageError):
        check_named_tests(("tests/test_a",), _collected("tests/test_ab.py::test_x"))


def test_docstrings_are_read_by_doctests_and_unknown_targets() -> None:
    from patchloop.verify.nodeids import reads_docstrings

    assert not reads_docstrings(("tests/test_calc.py::test_total[1]", "test_x.py::T::test_m"))
    # pytest's doctests: a source module's, and a text file's; and targets not yet known.
    assert reads_docstrings(("tests/test_calc.py::test_total", "calc.py::calc.total"))
    assert reads_docstrings(("README.rst::README.rst",))
    assert reads_docstrings(())
