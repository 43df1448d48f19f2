"""Test node ids as the user names them, checked against what the baseline collected."""

from __future__ import annotations

import difflib
from pathlib import Path

from patchloop.domain import TestOutcome
from patchloop.errors import UsageError
from patchloop.verify.collection import describe, is_collection_error
from patchloop.verify.green import named_by
from patchloop.verify.guard import is_test_path

__all__ = ["check_named_tests", "normalize_test_id", "reads_docstrings"]


def normalize_test_id(nodeid: str, root: Path) -> str:
    """A node id as pytest reports it: relative to ``root``, no ``./``, forward slashes."""
    path, sep, rest = nodeid.partition("::")
    path = path.replace("\\", "/")
    if Path(path).is_absolute():
        try:
            path = Path(path).resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            raise UsageError(
                f"test {nodeid!r} is outside the repository {root}",
                hint="name tests relative to the project directory",
            ) from None
    while path.startswith("./"):
        path = path[2:]
    return path.rstrip("/") + sep + rest


def check_named_tests(named: tuple[str, ...], outcomes: dict[str, TestOutcome]) -> None:
    """Every test the user named must be one the baseline collected (or a prefix of some).

    A test inside a file that failed to collect is refused with that file's error.
    """
    unknown = [t for t in named if t not in outcomes and not any(named_by(t, k) for k in outcomes)]
    if not unknown:
        return
    for test in unknown:
        for outcome in outcomes.values():
            if is_collection_error(outcome) and named_by(outcome.nodeid, test):
                raise UsageError(
                    f"{test} cannot run: {outcome.nodeid} could not be collected "
                    f"({describe(outcome)})",
                    hint=f"fix {outcome.nodeid} first, or name {outcome.nodeid} itself as the "
                    "test to repair",
                )
    near = difflib.get_close_matches(unknown[0], list(outcomes), n=3, cutoff=0.5)
    raise UsageError(
        f"no such test: {', '.join(unknown)} (the baseline collected {len(outcomes)} tests)",
        hint=("did you mean " + ", ".join(near) + "?")
        if near
        else "pass node ids as pytest prints them, e.g. tests/test_x.py::test_name",
    )


def reads_docstrings(targets: tuple[str, ...]) -> bool:
    """Whether a docstring can decide one of the ``targets``: one is collected from a file
    that is not a test module (pytest's doctests of a source module or a text file), or the
    targets are not known. Tests in test modules do not read the code's docstrings."""
    if not targets:
        return True
    for target in targets:
        path = target.partition("::")[0]
        if not path.endswith(".py") or not is_test_path(path):
            return True
    return False
