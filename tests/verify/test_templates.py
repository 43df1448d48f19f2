"""The template cache: keys, round trips, what is never stored or never used, and its bound."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest

from patchloop.config import Config, SandboxSettings, TestSettings
from patchloop.domain import Outcome, ProcessResult, TestOutcome, TestReport
from patchloop.localize.spectrum import CoverageMap
from patchloop.verify._report import REJECTED
from patchloop.verify.flaky import classify_flakes
from patchloop.verify.prepared import PreparedState
from patchloop.verify.templates import Template, TemplateCache, template_key, unstorable

REPORT = TestReport(
    outcomes=(
        TestOutcome(nodeid="t.py::test_a", outcome=Outcome.PASSED),
        TestOutcome(nodeid="t.py::test_b", outcome=Outcome.FAILED, message="assert 1 == 2"),
    ),
    process=ProcessResult(argv=("python", "-m", "pytest"), exit_code=1, duration_s=0.5),
    duration_s=0.5,
)
COVERAGE = CoverageMap(lines={"t.py::test_b": {"m.py": (1, 2, 3)}}, outcomes=REPORT.outcomes)


def key(**changes: Any) -> str:
    inputs: dict[str, Any] = {
        "fingerprint": "f" * 64,
        "argv": ("python", "-m", "pytest"),
        "tests": TestSettings(),
        "sandbox": SandboxSettings(kind="local"),
        "python": "/usr/bin/python3",
        "environment": "env-1",
    }
    return template_key(**(inputs | changes))


def entry(k: str = "k", created_at: float | None = None, **changes: Any) -> Template:
    fields: dict[str, Any] = {
        "key": k,
        "created_at": time.time() if created_at is None else created_at,
        "report": REPORT,
        "flakes": classify_flakes([REPORT]),
    }
    return Template(**(fields | changes))


def test_the_key_changes_with_every_input_that_decides_the_outcome() -> None:
    base = key()
    assert key() == base
    changed = [
        key(fingerprint="e" * 64),
        key(argv=("python", "-m", "pytest", "-x")),
        key(tests=TestSettings(per_test_timeout=5)),
        key(tests=TestSettings(flake_runs=1)),
        key(tests=TestSettings(plugins=("xdist",))),
        key(sandbox=SandboxSettings(kind="bwrap")),
        key(python="/opt/python3.13"),
        key(environment="env-2"),
    ]
    assert base not in changed
    assert len(set(changed)) == len(changed)
    # Settings that do not change what the tests do share the key.
    assert key(tests=TestSettings(regressions=False, cmd="other")) == base


def test_round_trip_keeps_report_flakes_and_coverage(tmp_path: Path) -> None:
    cache = TemplateCache(tmp_path / "t")
    stored = entry("k1", coverage=COVERAGE)
    assert cache.put(stored)
    assert cache.get("k1") == stored
    assert cache.get("k2") is None  # nothing under another key
    none = entry("k3", no_coverage="coverage is not installed")
    assert cache.put(none)
    found = cache.get("k3")
    assert found is not None
    assert found.has_coverage
    assert found.coverage is None
    assert not entry().has_coverage  # the coverage run's answer is not known yet
    assert not list((tmp_path / "t").glob(".*.tmp"))  # written by rename


@pytest.mark.parametrize("damage", ["corrupt", "truncated", "oversized", "version", "key"])
def test_a_damaged_entry_is_ignored(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = TemplateCache(tmp_path, max_bytes=100_000)
    cache.put(entry("k1"))
    path = cache.path("k1")
    text = path.read_text()
    if damage == "corrupt":
        path.write_text("{not json")
    elif damage == "truncated":
        path.write_text(text[: len(text) // 2])
    elif damage == "oversized":
        path.write_text(text + " " * 100_000)
    elif damage == "version":
        path.write_text(json.dumps(json.loads(text) | {"version": 2}))
    else:
        path.write_text(json.dumps(json.loads(text) | {"key": "k2"}))
    with caplog.at_level(logging.INFO, logger="patchloop.verify"):
        assert cache.get("k1") is None
    assert "ignored" in caplog.text


def test_an_entry_too_large_to_keep_is_not_written(tmp_path: Path) -> None:
    cache = TemplateCache(tmp_path, max_bytes=200)
    assert not cache.put(entry("k1"))
    assert not cache.path("k1").exists()


def _stopped(**changes: Any) -> TestReport:
    return REPORT.model_copy(update=changes)


@pytest.mark.parametrize(
    "report",
    [
        _stopped(status="timeout"),
        _stopped(status="no_report", outcomes=()),
        _stopped(status="interrupted"),
        _stopped(process=ProcessResult(argv=("python",), exit_code=-9, killed_by="wall")),
        _stopped(process=ProcessResult(argv=("python",), exit_code=-9, killed_by="memory")),
        _stopped(outcomes=(TestOutcome(nodeid="t.py::a", outcome=Outcome.TIMEOUT),)),
        _stopped(
            outcomes=(TestOutcome(nodeid="t.py::a", outcome=Outcome.ERROR, message=REJECTED),)
        ),
    ],
)
def test_a_baseline_a_limit_stopped_is_never_kept(tmp_path: Path, report: TestReport) -> None:
    state = _state(tmp_path)
    assert unstorable([REPORT, report]) is not None
    state.keep_baseline(REPORT, classify_flakes([REPORT]), [REPORT, report])
    assert state.entry is None
    assert state.cache.get(state.key) is None


def _state(tmp_path: Path) -> PreparedState:
    config = Config(tests=TestSettings(template_cache=str(tmp_path / "t"), flake_runs=1))
    state = PreparedState.open(config, fingerprint="f" * 64, argv=("python", "-m", "pytest"))
    assert state is not None
    return state


def test_a_kept_baseline_gets_its_coverage_once(tmp_path: Path) -> None:
    state = _state(tmp_path)
    assert unstorable([REPORT]) is None
    state.keep_baseline(REPORT, classify_flakes([REPORT]), [REPORT])
    again = _state(tmp_path)
    found = again.lookup()
    assert found is not None
    assert again.reused
    assert not found.has_coverage
    assert again.prepared_at is not None
    # A coverage run cut short adds nothing; a complete one is kept, and then stays.
    again.keep_coverage(COVERAGE.model_copy(update={"complete": False}), None)
    assert again.entry is not None
    assert not again.entry.has_coverage
    again.keep_coverage(COVERAGE, None)
    again.keep_coverage(None, "later answers change nothing")
    third = _state(tmp_path).lookup()
    assert third is not None
    assert third.coverage == COVERAGE
    assert third.no_coverage is None


def test_off_without_a_directory() -> None:
    assert PreparedState.open(Config(), fingerprint="f", argv=("pytest",)) is None


def test_entries_older_than_the_age_limit_are_not_used(tmp_path: Path) -> None:
    cache = TemplateCache(tmp_path, max_age_s=3600)
    cache.put(entry("old", created_at=time.time() - 7200))
    cache.put(entry("new", created_at=time.time() - 60))
    assert cache.get("old") is None
    assert cache.get("new") is not None
    assert cache.get("new", now=time.time() + 7200) is None


def test_the_directory_keeps_the_newest_entries(tmp_path: Path) -> None:
    cache = TemplateCache(tmp_path, max_entries=3)
    for i in range(5):
        cache.put(entry(f"k{i}"))
        # Distinct modification times, oldest first, whatever the file system's resolution.
        os.utime(cache.path(f"k{i}"), (1_000_000 + i, 1_000_000 + i))
    cache.put(entry("k5"))
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == ["k3", "k4", "k5"]
