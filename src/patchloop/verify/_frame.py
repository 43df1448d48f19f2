"""The framed report the pytest plugin sends over its descriptor, read strictly. Pure.

A valid report is exactly one frame: ``PATCHLOOP-REPORT 1 <length>\\n`` and a JSON payload of
that length, nothing before it and nothing after it. Anything else is rejected with a reason; the
code under test shares the plugin's process, so extra or malformed bytes mean it wrote there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["FRAME_MAGIC", "WATCHED", "ReportFrame", "read_frame"]

FRAME_MAGIC = b"PATCHLOOP-REPORT 1 "
#: pytest's reporting functions the plugin's tamper guard must have watched during the run
#: (the plugin keeps the same list; a report from a run without the whole guard is rejected).
WATCHED = (
    "runner.call_and_report",
    "runner.runtestprotocol",
    "runner.pytest_runtest_makereport",
    "reports.TestReport.from_item_and_call",
    "junitxml.LogXML.pytest_runtest_logreport",
    "junitxml.LogXML.pytest_sessionfinish",
    "main.pytest_runtestloop",
)
_MAX_HEADER = 64


@dataclass(frozen=True)
class ReportFrame:
    """What the plugin reported at the end of the session."""

    junit: str | None
    collected: tuple[str, ...]
    """Node ids pytest collected (after deselection), in run order."""
    collect_errors: tuple[str, ...]
    """Node ids of collectors (modules, classes) that failed to collect."""
    exitstatus: int
    tampered: tuple[str, ...]
    """Names of pytest reporting functions that were replaced during the run."""
    raised: tuple[str, ...] = ()
    """Node ids whose test or fixtures raised (they cannot have passed)."""
    guarded: tuple[str, ...] = ()
    """The reporting functions the tamper guard watched (all of :data:`WATCHED`, or no
    verdict)."""


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError("expected a list")
    return tuple(str(v) for v in value)


def read_frame(data: bytes) -> ReportFrame | str:
    """The one frame in ``data``, or why ``data`` is not exactly one valid frame."""
    if not data.startswith(FRAME_MAGIC):
        return "the report channel does not start with the plugin's frame"
    end = data.find(b"\n", 0, _MAX_HEADER)
    if end < 0:
        return "the report frame header is malformed"
    try:
        length = int(data[len(FRAME_MAGIC) : end])
    except ValueError:
        return "the report frame header is malformed"
    payload = data[end + 1 : end + 1 + length]
    if len(payload) < length:
        return "the report frame is truncated"
    if data[end + 1 + length :]:
        return "bytes follow the report frame (something else wrote to the report channel)"
    try:
        obj = json.loads(payload.decode("utf-8"))
        if not isinstance(obj, dict):
            raise ValueError("not an object")
        junit = obj.get("junit")
        return ReportFrame(
            junit=junit if isinstance(junit, str) else None,
            collected=_strings(obj.get("collected", [])),
            collect_errors=_strings(obj.get("collect_errors", [])),
            exitstatus=int(obj.get("exitstatus", -1)),
            tampered=_strings(obj.get("tampered", [])),
            raised=_strings(obj.get("raised", [])),
            guarded=_strings(obj.get("guarded", [])),
        )
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        return f"the report frame is not valid JSON: {exc}"
