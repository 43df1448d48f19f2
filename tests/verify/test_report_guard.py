"""No tamper guard, no verdict: a report from a run whose guard was incomplete is rejected."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from patchloop.domain import Outcome, ProcessResult, TestSelection
from patchloop.verify._frame import FRAME_MAGIC, WATCHED
from patchloop.verify._report import REJECTED, build_report

JUNIT = (
    '<testsuites><testsuite name="pytest"><testcase classname="t" name="test_a">'
    '<properties><property name="patchloop.nodeid" value="t.py::test_a"/></properties>'
    "</testcase></testsuite></testsuites>"
)


def frame(**fields: object) -> bytes:
    payload = {
        "junit": JUNIT,
        "collected": ["t.py::test_a"],
        "collect_errors": [],
        "raised": [],
        "exitstatus": 0,
        "tampered": [],
        "guarded": list(WATCHED),
        **fields,
    }
    data = json.dumps(payload).encode()
    return FRAME_MAGIC + str(len(data)).encode() + b"\n" + data


def report_of(raw: bytes, tmp_path: Path) -> dict[str, tuple[Outcome, str]]:
    process = ProcessResult(argv=("pytest",), exit_code=0, duration_s=0.1)
    report = build_report(process, raw, tmp_path, TestSelection())
    return {o.nodeid: (o.outcome, o.message) for o in report.outcomes}


def test_a_fully_guarded_run_is_trusted(tmp_path: Path) -> None:
    assert report_of(frame(), tmp_path) == {"t.py::test_a": (Outcome.PASSED, "")}


@pytest.mark.parametrize(
    "guarded", [[], [n for n in WATCHED if n != "runner.call_and_report"]], ids=["none", "one"]
)
def test_a_run_without_its_whole_guard_has_no_verdict(tmp_path: Path, guarded: list[str]) -> None:
    (outcome, message) = report_of(frame(guarded=guarded), tmp_path)["t.py::test_a"]
    assert outcome == Outcome.FAILED
    assert message.startswith(REJECTED + "the tamper guard could not watch")
    assert "runner.call_and_report" in message


def test_the_plugin_watches_what_the_harness_expects() -> None:
    # The plugin cannot import patchloop: its list is a copy, kept equal here.
    source = Path(__file__).parents[2] / "src/patchloop/verify/_pytest_plugin.py"
    tree = ast.parse(source.read_text())
    (value,) = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "WATCHED" for t in node.targets)
    ]
    assert tuple(ast.literal_eval(value)) == WATCHED
