"""Pytest plugin that records which lines each test executes, with its outcome and traceback.

It runs inside the test process (any interpreter with ``coverage`` and ``pytest``), so it
imports nothing from patchloop. Loaded with ``-p`` from a directory on ``PYTHONPATH``; driven by
environment variables:

``PATCHLOOP_SPECTRUM_OUT``   JSON file to write the per-test line sets to (outside the repo)
``PATCHLOOP_SPECTRUM_ROOT``  repository root, only files under it are measured (default: the
                            working directory)
``PATCHLOOP_SPECTRUM_TEST_TIMEOUT``  optional per-test timeout in seconds (SIGALRM)

Outcomes are appended to ``<OUT>.outcomes.jsonl`` as each test phase ends, so they survive a
run that is killed before the coverage data is written at the end of the session.
"""

from __future__ import annotations

import json
import os
import signal
import traceback
import warnings
from collections.abc import Generator
from typing import Any

import pytest

_OUT = os.environ.get("PATCHLOOP_SPECTRUM_OUT", "")
_ROOT = os.path.realpath(os.environ.get("PATCHLOOP_SPECTRUM_ROOT") or os.getcwd())
_TIMEOUT = float(os.environ.get("PATCHLOOP_SPECTRUM_TEST_TIMEOUT") or 0)
_FOREIGN = ("site-packages", "dist-packages", ".venv", "venv", ".tox", ".nox")
_IDLE = "<no test>"
#: Glob of a path with a byte that was not UTF-8 in a file or directory name.
_UNNAMED = "**/*[\udc80-\udcff]*"
_MAX_FRAMES = 60

_state: dict[str, Any] = {"cov": None, "error": None}


class SpectrumTestTimeout(BaseException):
    """Raised in a test that ran past the per-test timeout; not an ``Exception`` on purpose."""

    __test__ = False


def _rel(path: str) -> str | None:
    real = os.path.realpath(path)
    if real != _ROOT and not real.startswith(_ROOT + os.sep):
        return None
    rel = os.path.relpath(real, _ROOT).replace(os.sep, "/")
    if any(part in _FOREIGN for part in rel.split("/")):
        return None
    return rel


def _emit(record: dict[str, Any]) -> None:
    if _OUT:
        with open(_OUT + ".outcomes.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")


def pytest_configure(config: pytest.Config) -> None:
    try:
        import coverage
    except ImportError as exc:
        _state["error"] = f"coverage is not importable in the test interpreter: {exc}"
        _emit({"error": _state["error"]})
        return
    cov = coverage.Coverage(
        data_file=None,
        source=[_ROOT],
        # Paths that are not valid UTF-8 (surrogate escapes) cannot enter coverage's database.
        omit=[f"*/{name}/*" for name in _FOREIGN] + [_UNNAMED, _UNNAMED + "/*"],
        config_file=False,
        branch=False,
    )
    with warnings.catch_warnings():
        # Coverage warns through ``warnings``; a project's ``filterwarnings = error`` must not
        # turn that into a failure of the run.
        warnings.simplefilter("ignore")
        cov.start()
        _reentrant_data_lock(cov)
        cov.switch_context(_IDLE)
    _state["cov"] = cov


def _reentrant_data_lock(cov: Any) -> None:
    """Make the tracer's data lock reentrant.

    The C tracer takes the collector's lock through two Python-level calls. A per-test
    timeout that raises from a SIGALRM handler (ours, pytest-timeout's, a project conftest's)
    can land between them and leave the lock held; the next traced call then waits on it
    forever. With a reentrant lock the main thread cannot deadlock on itself. The collector
    is private to coverage, hence the defensive lookup.
    """
    import threading

    collector = getattr(cov, "_collector", None)
    if collector is not None and getattr(collector, "data_lock", None) is not None:
        collector.data_lock = threading.RLock()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, None, None]:
    cov = _state["cov"]
    if cov is not None:
        cov.switch_context(item.nodeid)
    try:
        yield
    finally:
        if cov is not None:
            cov.switch_context(_IDLE)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    if _TIMEOUT <= 0 or not hasattr(signal, "SIGALRM"):
        yield
        return

    def _on_alarm(signum: int, frame: object) -> None:
        raise SpectrumTestTimeout(f"test exceeded {_TIMEOUT:g}s (per-test timeout)")

    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, _TIMEOUT)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    record: dict[str, Any] = {
        "nodeid": report.nodeid,
        "when": report.when,
        "outcome": report.outcome,
        "duration": round(getattr(report, "duration", 0.0), 6),
    }
    if hasattr(report, "wasxfail"):
        record["xfail"] = True
    excinfo = call.excinfo
    if report.failed and excinfo is not None:
        frames = []
        for entry in traceback.extract_tb(excinfo.tb):
            rel = _rel(entry.filename)
            frames.append(
                {
                    "path": rel if rel is not None else entry.filename,
                    "line": entry.lineno or 0,
                    "function": entry.name,
                    "in_repo": rel is not None,
                }
            )
        # The stack starts in pytest's runner: keep it from the first project frame on.
        first = next((i for i, f in enumerate(frames) if f["in_repo"]), len(frames))
        record["frames"] = frames[first:][-_MAX_FRAMES:]
        lines = excinfo.exconly().strip().splitlines()
        record["message"] = lines[0][:500] if lines else excinfo.typename
        record["details"] = str(report.longrepr)[-4000:]
        # Also the per-test timeouts of a project's own conftest (``class TestTimeout``).
        record["timeout"] = excinfo.typename.endswith("TestTimeout")
    _emit(record)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    cov = _state["cov"]
    if cov is None or not _OUT:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cov.stop()
        data = cov.get_data()
    tests: dict[str, dict[str, list[int]]] = {}
    for filename in data.measured_files():
        rel = _rel(filename)
        if rel is None:
            continue
        for line, contexts in (data.contexts_by_lineno(filename) or {}).items():
            for context in contexts:
                if context and context != _IDLE:
                    tests.setdefault(context, {}).setdefault(rel, []).append(line)
    for files in tests.values():
        for lines in files.values():
            lines.sort()
    tmp = _OUT + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"version": 1, "root": _ROOT, "tests": tests}, fh)
    os.replace(tmp, _OUT)
