"""pytest plugin loaded into every verification run; it sends one framed report to the harness.

PYTEST_DONT_REWRITE (a warm interpreter imports this module before pytest could rewrite it.)

It adds ``<property>`` elements to each junit testcase: the exact node id (junit names are
lossy), the traceback frames of a failure as JSON, ``xpassed`` (which junit reports as a plain
pass), a timeout marker, and the arguments of a failed parametrized case. The values in an
assertion's comparison and in those arguments are shown whole up to a bound (:func:`value`),
where pytest's default cuts a list after six items. The per-test timeout uses ``SIGALRM``
and raises :class:`TestTimeout`, a ``BaseException`` so ``except Exception`` in the code
under test cannot swallow it; the alarm repeats every second in case a bare ``except`` does.

The report goes to the harness through a descriptor it opened (``_PATCHLOOP_REPORT_FD``, a pipe
whose other end only the harness holds; ``_PATCHLOOP_REPORT_PATH`` names a file instead for
sandboxes that cannot pass descriptors). The junit XML is written to a private temporary file,
read back at the very end of the session and sent as exactly one frame with the node ids pytest
collected, the reporting functions the tamper guard could watch (:data:`WATCHED`: a pytest
without one of them leaves the guard incomplete, and the harness then gives no verdict), and a
list of anything that looked like tampering: those functions replaced after this module was
imported. Writes by test code to the descriptor (extra frames,
garbage after ours) make the harness reject the report; they can never add a pass.

This module is copied out of the package and imported by the test interpreter, which may be a
different Python with a different pytest: it must not import patchloop and must stay compatible
with old pytest versions (old-style hook wrappers).
"""

from __future__ import annotations

import json
import os
import reprlib
import signal
import tempfile
import threading
import time
import traceback
from collections.abc import Generator, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest

TIMEOUT_ENV = "_PATCHLOOP_TEST_TIMEOUT"
REPORT_FD_ENV = "_PATCHLOOP_REPORT_FD"
REPORT_PATH_ENV = "_PATCHLOOP_REPORT_PATH"
FRAME_MAGIC = b"PATCHLOOP-REPORT 1 "
PROP_NODEID = "patchloop.nodeid"
PROP_FRAMES = "patchloop.frames"
PROP_TIMEOUT = "patchloop.timeout"
PROP_OUTCOME = "patchloop.outcome"
PROP_ARGUMENTS = "patchloop.arguments"
MAX_FRAMES = 40
#: The longest value :func:`value` writes, and the most arguments of one case it shows.
MAX_VALUE = 300
MAX_ARGUMENTS = 8
#: Interval at which the alarm fires again after a swallowed timeout.
REPEAT_S = 1.0

# Bound now, before any project code runs, so later monkeypatching cannot redirect them.
_write = os.write
_close = os.close
_dumps = json.dumps


class TestTimeout(BaseException):
    """The test ran longer than the per-test timeout."""

    __test__ = False


def _read_timeout() -> float:
    try:
        return max(float(os.environ.get(TIMEOUT_ENV, "0")), 0.0)
    except ValueError:
        return 0.0


_state: dict[str, Any] = {
    "config": None,
    "timeout": 0.0,
    "xml": None,
    "collected": [],
    "errors": [],
    "raised": [],
    "forced": [],
    "sent": False,
}
_deadline: dict[str, float] = {}


def _hidden_dirs() -> tuple[str, ...]:
    dirs = [os.path.dirname(os.path.abspath(__file__))]
    for name in ("_pytest", "pluggy", "pytest"):
        module = __import__(name)
        dirs.append(os.path.dirname(os.path.abspath(module.__file__ or "")))
    return tuple(d + os.sep for d in dirs)


_HIDDEN = _hidden_dirs()
_SELF = os.path.abspath(__file__)


#: pytest's reporting functions the tamper guard watches (``module.attribute`` under
#: ``_pytest``). Every one must be found: a pytest that moved one leaves no guard, and no guard
#: means no verdict (the harness rejects the report). The harness keeps the same list.
WATCHED = (
    "runner.call_and_report",
    "runner.runtestprotocol",
    "runner.pytest_runtest_makereport",
    "reports.TestReport.from_item_and_call",
    "junitxml.LogXML.pytest_runtest_logreport",
    "junitxml.LogXML.pytest_sessionfinish",
    "main.pytest_runtestloop",
)


def _lookup(name: str) -> object | None:
    """The function ``_pytest.<name>`` as it is now, ``None`` when it is not there."""
    import importlib

    module_name, *attrs = name.split(".")
    try:
        obj: object = importlib.import_module(f"_pytest.{module_name}")
    except ImportError:
        return None
    for attr in attrs:
        obj = getattr(obj, attr, None)
        if obj is None:
            return None
    # A classmethod is watched through its function (a new bound method comes every time).
    obj = getattr(obj, "__func__", obj)
    return obj if callable(obj) else None


def _watched() -> dict[str, object]:
    """pytest's reporting functions as they are now (compared again at the end)."""
    found = {name: _lookup(name) for name in WATCHED}
    return {name: func for name, func in found.items() if func is not None}


_WATCHED = _watched()


#: Modules a run imports besides pytest's default plugins.
_ALSO_USED = ("xml.etree.ElementTree", "xml.dom.minidom", "_pytest.python_api", "pdb")


def warm_core() -> None:
    """Import what every pytest run imports (for a warm interpreter; no project code)."""
    import importlib

    from _pytest.config import default_plugins

    for name in [*("_pytest." + n for n in default_plugins), *_ALSO_USED]:
        with suppress(Exception):
            importlib.import_module(name)


def warm() -> None:
    """:func:`warm_core`, plus the plugins pytest would auto-load from installed packages.

    Only plugins installed in ``site-packages`` are imported; an editable install (which may be
    the project under test) is left for each run to import fresh. Imported plugins are marked so
    that pytest does not warn that it can no longer rewrite their asserts.
    """
    warm_core()
    import importlib.metadata

    for dist in importlib.metadata.distributions():
        points = [ep for ep in dist.entry_points if ep.group == "pytest11"]
        for ep in points:
            if not _installed(ep.value.split(":")[0].strip().split(".")[0]):
                continue
            with suppress(Exception):
                ep.load()
        if points:
            _mark_not_rewritten(dist)


def _installed(top: str) -> bool:
    """Whether the top-level module ``top`` lives in an installed ``*-packages`` directory."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(top)  # a top-level name: found, not imported
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    places = [spec.origin or "", *(spec.submodule_search_locations or [])]
    return all(os.sep + "site-packages" in p or os.sep + "dist-packages" in p for p in places if p)


def _mark_not_rewritten(dist: Any) -> None:
    import sys

    for file in dist.files or []:
        name = str(file)
        if "/" not in name and name.endswith(".py"):
            module = name[:-3]
        elif name.count("/") == 1 and name.endswith("/__init__.py"):
            module = name.split("/", 1)[0]
        else:
            continue
        loaded = sys.modules.get(module)
        if loaded is not None and "PYTEST_DONT_REWRITE" not in (loaded.__doc__ or ""):
            with suppress(AttributeError, TypeError):
                loaded.__doc__ = (loaded.__doc__ or "") + "\n\nPYTEST_DONT_REWRITE"


def _on_alarm(signum: int, frame: object) -> None:
    __tracebackhide__ = True  # pytest leaves this frame out of the failure report
    raise TestTimeout(f"test ran longer than the per-test timeout of {_state['timeout']:g} s")


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    if (
        _state["timeout"] <= 0
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


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: Any) -> None:
    _state["config"] = config
    _state["timeout"] = _read_timeout()
    if os.environ.get(REPORT_FD_ENV) or os.environ.get(REPORT_PATH_ENV):
        # junit goes to a private file this plugin reads back; runs before junitxml configures.
        fd, path = tempfile.mkstemp(prefix="patchloop-junit-", suffix=".xml")
        _close(fd)
        _state["xml"] = path
        config.option.xmlpath = path


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item: Any) -> Generator[None, None, None]:
    # Setup and call share one budget; teardown gets its own so fixtures still clean up.
    timeout = _state["timeout"]
    _deadline[item.nodeid] = time.monotonic() + timeout
    with _alarm(timeout):
        yield


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_call(item: Any) -> Generator[None, None, None]:
    timeout = _state["timeout"]
    remaining = _deadline.get(item.nodeid, time.monotonic() + timeout) - time.monotonic()
    with _alarm(remaining):
        yield


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: Any) -> Generator[None, None, None]:
    _deadline.pop(item.nodeid, None)
    with _alarm(_state["timeout"]):
        yield


_REPR = reprlib.Repr()
_REPR.maxlevel = 4
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = 40
_REPR.maxarray = 40
_REPR.maxdict = 20
_REPR.maxstring = _REPR.maxother = 160
_REPR.maxlong = 60


def value(obj: object) -> str:
    """A value as a failure report shows it: its repr with up to 40 items of a container,
    on one line, at most :data:`MAX_VALUE` characters."""
    try:
        text = _REPR.repr(obj)
    except Exception as exc:  # a broken __repr__ of the code under test
        text = f"<{type(obj).__name__} object; repr raised {type(exc).__name__}>"
    text = text.replace("\n", "\\n")
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."


def pytest_assertrepr_compare(config: Any, op: str, left: Any, right: Any) -> list[str] | None:
    # The comparison line with fuller values; pytest's own explanation (where an item
    # differs, what one side has more) follows it. A conftest's own hook runs before this one.
    default: list[str] | None = None
    try:  # pytest's own implementation of this hook, whose signature every version shares
        from _pytest import assertion

        default = assertion.pytest_assertrepr_compare(config, op, left, right)
    except Exception:
        default = None
    return [f"{value(left)} {op} {value(right)}", *(default or [])[1:]]


def _arguments(item: Any) -> str:
    params = getattr(getattr(item, "callspec", None), "params", None)
    if not isinstance(params, dict) or not params:
        return ""
    shown = [f"{name} = {value(arg)}" for name, arg in list(params.items())[:MAX_ARGUMENTS]]
    return ", ".join(shown)


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
        _add(item, report, PROP_TIMEOUT, f"{_state['timeout']:g}")
    first_failure = not any(name == PROP_FRAMES for name, _ in item.user_properties)
    if report.failed and excinfo is not None and first_failure:
        _add(item, report, PROP_FRAMES, json.dumps(_frames(excinfo)))
        arguments = _arguments(item)
        if arguments:
            _add(item, report, PROP_ARGUMENTS, arguments)
    if hasattr(report, "wasxfail") and call.when == "call":
        _add(item, report, PROP_OUTCOME, "xpassed" if report.passed else "xfailed")
    if excinfo is not None and not hasattr(report, "wasxfail") and not _skip_or_xfail(excinfo):
        # The test (or its fixture) raised: whatever a hook makes of the report, it failed.
        _state["raised"].append(item.nodeid)
        if report.passed:
            _state["forced"].append(item.nodeid)


def _skip_or_xfail(excinfo: Any) -> bool:
    kinds = tuple(
        k
        for k in (getattr(pytest.skip, "Exception", None), getattr(pytest.xfail, "Exception", None))
        if k
    )
    return bool(kinds) and bool(excinfo.errisinstance(kinds))


@pytest.hookimpl(trylast=True)
def pytest_collectreport(report: Any) -> None:
    if report.passed:
        return
    _state["errors"].append(report.nodeid)
    config = _state["config"]
    if config is None:
        return
    try:
        from _pytest import junitxml

        xml = config.stash.get(junitxml.xml_key, None)
        if xml is not None:
            xml.node_reporter(report).add_property(PROP_NODEID, report.nodeid)
    except Exception:
        pass  # private API; without the property the runner inverts junit's names


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: Any) -> None:
    _state["collected"] = [item.nodeid for item in session.items]


def _tampering() -> list[str]:
    # Functions this pytest does not have are not in ``guarded``: the harness rejects that.
    now = _watched()
    found = sorted(name for name, func in _WATCHED.items() if now.get(name) is not func)
    found += [
        f"a hook reported {nodeid} as passed although it raised" for nodeid in _state["forced"]
    ]
    return found


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: Any, exitstatus: Any) -> None:
    # Last of all sessionfinish hooks: junitxml has written its file by now.
    path = _state["xml"]
    if path is None or _state["sent"]:
        return
    _state["sent"] = True
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            junit = fh.read()
    except OSError:
        junit = None
    with suppress(OSError):
        os.unlink(path)
    payload = _dumps(
        {
            "junit": junit,
            "collected": _state["collected"],
            "collect_errors": _state["errors"],
            "raised": sorted(set(_state["raised"])),
            "exitstatus": int(exitstatus),
            "tampered": _tampering(),
            "guarded": sorted(_WATCHED),  # what the guard could watch
        }
    ).encode("utf-8")
    data = FRAME_MAGIC + str(len(payload)).encode() + b"\n" + payload
    fd_text = os.environ.get(REPORT_FD_ENV)
    if fd_text:
        fd = int(fd_text)
        view = memoryview(data)
        while view:
            written = _write(fd, view)
            view = view[written:]
        _close(fd)
        return
    target = os.environ.get(REPORT_PATH_ENV)
    if target:
        with open(target, "ab") as out:
            out.write(data)
