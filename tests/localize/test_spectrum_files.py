"""The coverage plugin's output is written inside the tested process: read it as untrusted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from patchloop.domain import Outcome
from patchloop.localize import _spectrum_files
from patchloop.localize._spectrum_files import read_lines, read_outcomes
from patchloop.localize.spectrum import _outcomes


@pytest.mark.parametrize(
    "data",
    [
        {"tests": {"t": {"a.py": 5}}},
        {"tests": {"t": {"a.py": ["1"]}}},
        {"tests": {"t": {"a.py": [1.5]}}},
        {"tests": {"t": ["a.py"]}},
        {"tests": ["t"]},
        {"tests": {"t": {"a.py": [-1]}}},
        ["tests"],
        "text",
    ],
)
def test_a_malformed_line_map_is_no_map(tmp_path: Path, data: object) -> None:
    path = tmp_path / "spectrum.json"
    path.write_text(json.dumps(data))
    assert read_lines(path) is None


def test_a_good_line_map_reads(tmp_path: Path) -> None:
    path = tmp_path / "spectrum.json"
    path.write_text(json.dumps({"version": 1, "tests": {"t::a": {"a.py": [3, 1, 3]}}}))
    assert read_lines(path) == {"t::a": {"a.py": (1, 3)}}


def test_a_line_map_past_the_limit_or_not_a_file_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "spectrum.json"
    path.write_text(json.dumps({"tests": {"t::a": {"a.py": list(range(1, 200))}}}))
    monkeypatch.setattr(_spectrum_files, "MAX_LINES_BYTES", 100)
    assert read_lines(path) is None
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    assert read_lines(fifo) is None


def test_malformed_outcome_records_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "spectrum.json.outcomes.jsonl"
    good = {"nodeid": "t.py::ok", "when": "call", "outcome": "passed", "duration": 0.1}
    failed = {
        "nodeid": "t.py::bad",
        "when": "call",
        "outcome": "failed",
        "message": "boom",
        "frames": [{"path": "a.py", "line": 3, "function": "f", "in_repo": True}],
    }
    records = [
        good,
        failed,
        {"nodeid": "t.py::x", "when": "call", "outcome": "failed", "frames": 5},
        {"nodeid": "t.py::y", "when": "call", "outcome": "failed", "frames": [7]},
        {"nodeid": "t.py::z", "when": "call", "duration": "slow"},
        {"nodeid": 3},
        [1, 2],
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\nnot json\n")
    outcomes, error = _outcomes(path)
    assert error is None
    by_id = {o.nodeid: o for o in outcomes}
    assert set(by_id) == {"t.py::ok", "t.py::bad"}
    assert by_id["t.py::ok"].outcome == Outcome.PASSED
    assert by_id["t.py::bad"].outcome == Outcome.FAILED
    assert by_id["t.py::bad"].frames[0].line == 3


def test_an_outcome_log_past_the_limit_keeps_its_whole_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log.jsonl"
    line = json.dumps({"nodeid": "t.py::a", "when": "call", "outcome": "passed"})
    path.write_text((line + "\n") * 10)
    monkeypatch.setattr(_spectrum_files, "MAX_OUTCOMES_BYTES", len(line) * 3 + 10)
    phases, _ = read_outcomes(path)
    assert len(phases["t.py::a"]) == 3
