"""The tamper guard: test files and test configuration are protected."""

from __future__ import annotations

import pytest

from patchloop.domain import FileChange
from patchloop.edits.diff import make_patch
from patchloop.errors import GuardError
from patchloop.verify.guard import check_patch, is_protected_path, is_test_path


def _change(path: str, before: str | None = "a = 1\n", after: str | None = "a = 2\n") -> FileChange:
    return FileChange(path=path, before=before, after=after)


@pytest.mark.parametrize(
    "path",
    [
        "src/cart.py",
        "cart/testing_utils.py",
        "src/contest.py",
        "attest/core.py",
        "docs/testing.md",
        "testsuite_helpers.py",
        "README.md",
    ],
)
def test_source_edits_are_accepted(path: str) -> None:
    check_patch(make_patch([_change(path)]), allow_test_edits=False)
    assert not is_protected_path(path)


@pytest.mark.parametrize(
    ("path", "before"),
    [
        ("tests/test_cart.py", "a = 1\n"),
        ("test_cart.py", "a = 1\n"),
        ("pkg/cart_test.py", "a = 1\n"),
        ("tests/helpers.py", "a = 1\n"),
        ("src/pkg/test/data.json", "{}"),
        ("Tests/fixtures.py", "a = 1\n"),
        ("conftest.py", "a = 1\n"),
        ("src/pkg/conftest.py", None),  # newly added
        ("pytest.ini", "[pytest]\n"),
        ("tox.ini", "[tox]\n"),
        ("noxfile.py", "a = 1\n"),
        ("pytest.toml", None),
        ("sitecustomize.py", None),
        ("src/usercustomize.py", None),
        ("lib/evil.pth", None),
    ],
)
def test_protected_paths_are_rejected(path: str, before: str | None) -> None:
    patch = make_patch([_change("src/ok.py"), _change(path, before=before)])
    with pytest.raises(GuardError) as info:
        check_patch(patch, allow_test_edits=False)
    assert path in str(info.value)
    assert "src/ok.py" not in str(info.value)
    assert "Change the code under test instead" in info.value.feedback
    assert path in info.value.feedback
    assert is_protected_path(path)


def test_deleting_a_test_is_rejected() -> None:
    patch = make_patch([_change("tests/test_cart.py", after=None)])
    with pytest.raises(GuardError):
        check_patch(patch, allow_test_edits=False)


def test_allow_test_edits() -> None:
    patch = make_patch([_change("tests/test_cart.py"), _change("conftest.py", before=None)])
    check_patch(patch, allow_test_edits=True)


def test_is_test_path() -> None:
    assert is_test_path("tests/test_a.py")
    assert is_test_path("pkg/tests/util.py")
    assert is_test_path("a_test.py")
    assert is_test_path("conftest.py")
    assert not is_test_path("src/a.py")
    assert not is_test_path("pytest.ini")  # configuration, not test code
    assert not is_test_path("test_data.txt")
    assert not is_test_path("")


PYPROJECT = """\
[project]
name = "cart"
version = "1.0"

[tool.pytest.ini_options]
addopts = "-q"
testpaths = ["tests"]

[tool.ruff]
line-length = 100
"""


def test_pyproject_non_test_edits_are_accepted() -> None:
    after = PYPROJECT.replace('version = "1.0"', 'version = "1.1"').replace("100", "120")
    check_patch(make_patch([_change("pyproject.toml", PYPROJECT, after)]), allow_test_edits=False)


@pytest.mark.parametrize(
    "after",
    [
        PYPROJECT.replace('addopts = "-q"', 'addopts = "-q --deselect tests/test_a.py::t"'),
        PYPROJECT.replace('testpaths = ["tests"]\n', ""),
        PYPROJECT + "\n[tool.coverage.run]\nbranch = true\n",
        PYPROJECT + "\n[tool.tox]\nlegacy_tox_ini = ''\n",
        PYPROJECT.replace("[tool.pytest.ini_options]", "[tool.pytest.ini_options]\nbroken = [\n"),
    ],
)
def test_pyproject_test_section_edits_are_rejected(after: str) -> None:
    with pytest.raises(GuardError, match=r"pyproject\.toml"):
        check_patch(
            make_patch([_change("pyproject.toml", PYPROJECT, after)]), allow_test_edits=False
        )


def test_broken_toml_outside_the_test_section_is_not_a_guard_matter() -> None:
    after = PYPROJECT.replace('version = "1.0"', "version = ")
    check_patch(make_patch([_change("pyproject.toml", PYPROJECT, after)]), allow_test_edits=False)


def test_new_pyproject_with_pytest_config_is_rejected() -> None:
    with pytest.raises(GuardError):
        check_patch(
            make_patch([_change("pyproject.toml", None, PYPROJECT)]), allow_test_edits=False
        )
    check_patch(
        make_patch([_change("pyproject.toml", None, '[project]\nname = "x"\n')]),
        allow_test_edits=False,
    )


SETUP_CFG = """\
[metadata]
name = cart

[tool:pytest]
addopts = -q

[flake8]
max-line-length = 100
"""


def test_setup_cfg() -> None:
    ok = SETUP_CFG.replace("name = cart", "name = cart2").replace("100", "120")
    check_patch(make_patch([_change("setup.cfg", SETUP_CFG, ok)]), allow_test_edits=False)
    for bad in (
        SETUP_CFG.replace("addopts = -q", "addopts = -q -k 'not slow'"),
        SETUP_CFG + "\n[coverage:run]\nbranch = True\n",
        SETUP_CFG + "\n[tox:tox]\nenvlist = py311\n",
    ):
        with pytest.raises(GuardError, match=r"setup\.cfg"):
            check_patch(make_patch([_change("setup.cfg", SETUP_CFG, bad)]), allow_test_edits=False)
