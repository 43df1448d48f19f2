"""pytest plugin loaded into every verification run; everything it learns goes into the junit XML.

It adds ``<property>`` elements to each testcase: the exact node id (junit names are lossy),
the traceback frames of a failure as JSON, ``xpassed`` (which junit reports as a plain pass),
and a timeout marker. The per-test timeout uses ``SIGALRM`` and raises :class:`TestTimeout`, a
``BaseException`` so ``except Exception`` in the code under test cannot swallow it; the alarm
repeats every second in case a bare ``except`` does.

This module is copied out of the package and imported by the test interpreter, which may be a
different Python with a different pytest: it must not import patchloop and must stay compatible
with old pytest versions (old-style hook wrappers).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import traceback
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

TIMEOUT_ENV = "_PATCHLOOP_TEST_TIMEOUT"
PROP_NODEID = "patchloop.nodeid"
PROP_FRAMES = "patchloop.frames"
PROP_TIMEOUT = "patchloop.timeout"
PROP_OUTCOME = "patchloop.outcome"
MAX_FRAMES = 40
#: Interval at which the alarm fires again after a swallowed timeout.
REPEAT_S = 1.0


class TestTimeout(BaseException):
    """The test ran longer than the per-test timeout."""

    __test__ = False


def _read_timeout() -> float:
    try:
        return max(float(os.environ.get(TIMEOUT_ENV, "0")), 0.0)
    except ValueError:
        return 0.0


_TIMEOUT = _read_timeout()
_config: Any = None
_deadline: dict[str, float] = {}


def _hidden_dirs() -> tuple[str, ...]:
    dirs = [os.path.dirname(os.path.abspath(__file__))]
    for name in ("_pytest", "pluggy", "pytest"):
        module = __import__(name)
        dirs.append(os.path.dirname(os.path.abspath(module.__file__ or "")))
    return tuple(d + os.sep for d in dirs)


_HIDDEN = _hidden_dirs()
_SELF = os.path.abspath(__file__)


def _on_alarm(signum: int, frame: object) -> None:
    __tracebackhide__ = True  # pytest leaves this frame out of the failure report
    raise TestTimeout(f"test ran longer than the per-test timeout of {_TIMEOUT:g} s")


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    if (
        _TIMEOUT <= 0
        or not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001), REPEAT_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def pytest_configure(config: Any) -> None:
    global _config  # noqa: PLW0603 - one session per process
    _config = config


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item: Any) -> Generator[None, None, None]:
    # Setup and call share one budget; teardown gets its own so fixtures still clean up.
    _deadline[item.nodeid] = time.monotonic() + _TIMEOUT
    with _alarm(_TIMEOUT):
        yield


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_call(item: Any) -> Generator[None, None, None]:
    remaining = _deadline.get(item.nodeid, time.monotonic() + _TIMEOUT) - time.monotonic()
    with _alarm(remaining):
        yield


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: Any) -> Generator[None, None, None]:
    _deadline.pop(item.nodeid, None)
    with _alarm(_TIMEOUT):
        yield


def _frames(excinfo: Any) -> list[dict[str, object]]:
    frames: list[dict[str, object]] = []
    for summary in traceback.extract_tb(excinfo.tb):
        path = os.path.abspath(summary.filename) if summary.filename[:1] != "<" else ""
        if not path or path == _SELF or path.startswith(_HIDDEN):
            continue
        frames.append({"path": path, "line": summary.lineno or 0, "function": summary.name})
    return frames[-MAX_FRAMES:]


def _add(item: Any, report: Any, name: str, value: str) -> None:
    # junit writes the properties of the teardown report, which copies the item's list when it
    # is made, and of a failed call report that teardown closes; so both get every property.
    prop = (name, value)
    if prop not in item.user_properties:
        item.user_properties.append(prop)
    if prop not in report.user_properties:
        report.user_properties.append(prop)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    _add(item, report, PROP_NODEID, item.nodeid)
    excinfo = call.excinfo
    if excinfo is not None and excinfo.errisinstance(TestTimeout):
        _add(item, report, PROP_TIMEOUT, f"{_TIMEOUT:g}")
    first_failure = not any(name == PROP_FRAMES for name, _ in item.user_properties)
    if report.failed and excinfo is not None and first_failure:
        _add(item, report, PROP_FRAMES, json.dumps(_frames(excinfo)))
    if hasattr(report, "wasxfail") and call.when == "call":
        _add(item, report, PROP_OUTCOME, "xpassed" if report.passed else "xfailed")


@pytest.hookimpl(trylast=True)
def pytest_collectreport(report: Any) -> None:
    if report.passed or _config is None:
        return
    try:
        from _pytest import junitxml

        xml = _config.stash.get(junitxml.xml_key, None)
        if xml is not None:
            xml.node_reporter(report).add_property(PROP_NODEID, report.nodeid)
    except Exception:
        pass  # private API; without the property the runner inverts junit's names
