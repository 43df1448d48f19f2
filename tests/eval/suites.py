"""Tiny task suites written for the tests, in the task-suite JSONL format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from patchloop.domain import FileChange
from patchloop.edits import make_patch
from tests.conftest import CALC, TEST_CALC

PYTEST_INI = "[pytest]\naddopts = -p no:cacheprovider\n"
TEST_CMD = "python -m pytest -q -p no:cacheprovider"
#: Stands in for a reference fix: it must never reach the output or the system under test.
GOLD_MARKER = "GOLD-PATCH-MUST-NOT-LEAK"

GREET = 'def greet(name):\n    return "Hello " + name\n'
TEST_GREET = (
    'from greet import greet\n\n\ndef test_greet():\n    assert greet("Ann") == "Hello, Ann"\n'
)
#: Makes the greet task's test pass by changing the test, not the code.
CHEAT_REPLY = """test_greet.py
<<<<<<< SEARCH
    assert greet("Ann") == "Hello, Ann"
=======
    assert greet("Ann") == "Hello Ann"
>>>>>>> REPLACE
"""

MUL = "def mul(a, b):\n    return a + b\n"
TEST_MUL = (
    "from mul import mul\n\n\n"
    "def test_mul():\n    assert mul(3, 4) == 12\n\n\n"
    "def test_zero():\n    assert mul(0, 0) == 0\n"
)

CALC_FILES = {"calc.py": CALC, "test_calc.py": TEST_CALC, "pytest.ini": PYTEST_INI}
CALC_F2P = ["test_calc.py::test_clamp_high"]
CALC_P2P = [
    "test_calc.py::test_add",
    "test_calc.py::test_clamp_low",
    "test_calc.py::test_clamp_inside",
]


def task(
    name: str,
    files: dict[str, str],
    f2p: list[str],
    p2p: list[str] | None = None,
    *,
    test_cmd: str = TEST_CMD,
    category: str = "",
) -> dict[str, Any]:
    """One suite line as a dict, with a gold patch and meta like the public suites."""
    return {
        "id": f"tiny/{name}",
        "task": f"The tests of {name} fail; fix the code so they pass.",
        "files": files,
        "test_cmd": test_cmd,
        "fail_to_pass": f2p,
        "pass_to_pass": p2p or [],
        "gold_patch": f"diff --git a/x b/x\n# {GOLD_MARKER}\n",
        "meta": {"category": category or name, "bug_lines": {"x": [1]}, "license": "MIT"},
    }


def calc_task() -> dict[str, Any]:
    """Resolved by FIX_REPLY; its reference fix is the same code plus a comment."""
    line = task("calc", CALC_FILES, CALC_F2P, CALC_P2P, category="wrong return")
    fixed = CALC.replace(
        "    if value > high:\n        return low",
        f"    if value > high:\n        return high  # {GOLD_MARKER}",
    )
    line["gold_patch"] = make_patch([FileChange(path="calc.py", before=CALC, after=fixed)]).diff
    return line


def greet_task() -> dict[str, Any]:
    """Only CHEAT_REPLY makes its test pass, by editing the test."""
    return task(
        "greet",
        {"greet.py": GREET, "test_greet.py": TEST_GREET, "pytest.ini": PYTEST_INI},
        ["test_greet.py::test_greet"],
    )


def mul_task() -> dict[str, Any]:
    """No scripted reply applies to it."""
    return task(
        "mul",
        {"mul.py": MUL, "test_mul.py": TEST_MUL, "pytest.ini": PYTEST_INI},
        ["test_mul.py::test_mul"],
        ["test_mul.py::test_zero"],
    )


def broken_task() -> dict[str, Any]:
    """Its test command cannot run."""
    return task(
        "broken",
        CALC_FILES,
        CALC_F2P,
        CALC_P2P,
        test_cmd="no-such-test-runner-xyz -q",
    )


def write_suite(path: Path, lines: list[dict[str, Any] | str]) -> Path:
    """Write ``lines`` (dicts as JSON, strings verbatim) as a suite file."""
    path.write_text(
        "".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines),
        encoding="utf-8",
    )
    return path


def write_replies(path: Path, *replies: str) -> str:
    """A scripted model spec replaying ``replies`` (the same for every task)."""
    path.write_text("".join(json.dumps(r) + "\n" for r in replies), encoding="utf-8")
    return f"scripted:{path}"


def lines_of(*items: dict[str, Any] | str) -> bytes:
    """Suite bytes for ``items`` (dicts as JSON, strings verbatim)."""
    return "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in items).encode()
