"""Per-test outcomes from pytest's junit XML (plus the properties our plugin adds). Pure."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from pathlib import Path

from patchloop.domain import Frame, Outcome, TestOutcome
from patchloop.verify._paths import PathMapper
from patchloop.verify.green import named_by

__all__ = ["JunitError", "covers", "parse_junit"]

# Property names written by ``_pytest_plugin`` (which cannot import this package).
PROP_NODEID = "patchloop.nodeid"
PROP_FRAMES = "patchloop.frames"
PROP_TIMEOUT = "patchloop.timeout"
PROP_OUTCOME = "patchloop.outcome"
PROP_ARGUMENTS = "patchloop.arguments"
#: The longest arguments line kept from a report (the plugin bounds it; the test code could not).
MAX_ARGUMENTS_CHARS = 2_500

#: When one node id has several testcases (a failed call plus a teardown error), keep the worst.
_RANK = {
    Outcome.TIMEOUT: 6,
    Outcome.FAILED: 5,
    Outcome.ERROR: 4,
    Outcome.XPASSED: 3,
    Outcome.PASSED: 2,
    Outcome.XFAILED: 1,
    Outcome.SKIPPED: 0,
}
_MAX_MESSAGE = 500


class JunitError(ValueError):
    """The report is not junit XML."""


def _properties(case: ET.Element) -> dict[str, str]:
    props: dict[str, str] = {}
    for prop in case.iterfind("properties/property"):
        # The first occurrence wins: it belongs to the first phase that failed.
        props.setdefault(prop.get("name", ""), prop.get("value", ""))
    return props


def _guess_nodeid(case: ET.Element, exists: Callable[[str], bool]) -> str:
    # Without our property, invert junit's name mangling: ``a.b.test_m.TestC`` + ``test_x[1]``.
    parts = [p for p in case.get("classname", "").split(".") if p]
    name = case.get("name", "")
    if not parts:
        parts, name = name.split("."), ""
    for cut in range(len(parts), 0, -1):
        module = "/".join(parts[:cut]) + ".py"
        if exists(module):
            return "::".join([module, *parts[cut:], *([name] if name else [])])
    return ".".join(parts) + (f"::{name}" if name else "")


def _first_line(text: str, limit: int = _MAX_MESSAGE) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:limit]


def _frames(raw: str | None, mapper: PathMapper) -> tuple[Frame, ...]:
    if not raw:
        return ()
    try:
        items = json.loads(raw)
        return tuple(
            mapper.frame(str(f["path"]), int(f["line"]), str(f.get("function", ""))) for f in items
        )
    except (ValueError, TypeError, KeyError):
        return ()


def _case_outcome(case: ET.Element, props: dict[str, str]) -> tuple[Outcome, str, str]:
    failure, error, skipped = case.find("failure"), case.find("error"), case.find("skipped")
    if PROP_TIMEOUT in props:
        element = failure if failure is not None else error
        text = (element.text or "") if element is not None else ""
        return Outcome.TIMEOUT, f"timeout: test ran longer than {props[PROP_TIMEOUT]} s", text
    for outcome, element in ((Outcome.FAILED, failure), (Outcome.ERROR, error)):
        if element is not None:
            return outcome, element.get("message", ""), element.text or ""
    if skipped is not None:
        xfail = skipped.get("type") == "pytest.xfail" or props.get(PROP_OUTCOME) == "xfailed"
        outcome = Outcome.XFAILED if xfail else Outcome.SKIPPED
        return outcome, skipped.get("message", ""), skipped.text or ""
    if props.get(PROP_OUTCOME) == "xpassed":
        return Outcome.XPASSED, "", ""
    return Outcome.PASSED, "", ""


def parse_junit(xml_text: str, *, workspace: Path) -> list[TestOutcome]:
    """Outcomes in report order, one per node id, with paths made relative to ``workspace``.

    Raises :class:`JunitError` when ``xml_text`` is not junit XML.
    """
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise JunitError(f"junit report is not valid XML: {exc}") from exc
    if root.tag not in ("testsuites", "testsuite"):
        raise JunitError(f"junit report has root <{root.tag}>, not <testsuites>")
    mapper = PathMapper(workspace)

    def exists(rel: str) -> bool:
        return os.path.isfile(os.path.join(mapper.workspace, rel))

    merged: dict[str, TestOutcome] = {}
    for case in root.iter("testcase"):
        props = _properties(case)
        nodeid = props.get(PROP_NODEID) or _guess_nodeid(case, exists)
        outcome, message, details = _case_outcome(case, props)
        try:
            duration = float(case.get("time", "0") or 0)
        except ValueError:
            duration = 0.0
        result = TestOutcome(
            nodeid=nodeid,
            outcome=outcome,
            duration_s=duration,
            message=_first_line(mapper.scrub(message)),
            details=mapper.scrub(details),
            frames=_frames(props.get(PROP_FRAMES), mapper),
            arguments=_first_line(mapper.scrub(props.get(PROP_ARGUMENTS, "")), MAX_ARGUMENTS_CHARS),
        )
        previous = merged.get(nodeid)
        if previous is None or _RANK[outcome] > _RANK[previous.outcome]:
            merged[nodeid] = result
    return list(merged.values())


def covers(selected: str, reported: Iterable[str]) -> bool:
    """Whether a selected node id (a directory, file, class, function or one case) has any
    reported test."""
    return any(named_by(selected, nodeid) for nodeid in reported)
