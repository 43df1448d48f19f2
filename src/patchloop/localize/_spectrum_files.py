"""Reading what the coverage plugin wrote: untrusted, since it shares the tested process.

The code under test can overwrite, truncate, replace (a FIFO, a link to ``/dev/zero``) or
forge both files. Reads are bounded and never follow links or block; every record is validated
against its schema, and whatever does not fit is left out (a malformed line map is no map at
all), so nothing the tests write can raise outside the error tree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from patchloop.domain import Frame, TestOutcome
from patchloop.sandbox import read_untrusted

__all__ = ["MAX_LINES_BYTES", "MAX_OUTCOMES_BYTES", "read_lines", "read_outcomes"]

#: Largest per-test line map read (a larger one is treated as missing).
MAX_LINES_BYTES = 256 * 1024 * 1024
#: Largest outcome log read (the lines past it are left out).
MAX_OUTCOMES_BYTES = 64 * 1024 * 1024

LineMap = dict[str, dict[str, tuple[int, ...]]]
_LINES: TypeAdapter[dict[str, dict[str, list[Annotated[int, Field(strict=True, ge=0)]]]]] = (
    TypeAdapter(dict[str, dict[str, list[Annotated[int, Field(strict=True, ge=0)]]]])
)


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore")

    path: str = ""
    line: Annotated[int, Field(ge=0)] = 0
    function: str = ""
    in_repo: bool = False


class Phase(BaseModel):
    """One record of the outcome log: one phase (setup, call, teardown) of one test."""

    model_config = ConfigDict(extra="ignore")

    nodeid: str
    when: str = ""
    outcome: str = ""
    duration: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    xfail: bool = False
    timeout: bool = False
    message: str = ""
    details: str = ""
    frames: list[_Frame] = Field(default_factory=list)

    def frame_objects(self) -> tuple[Frame, ...]:
        """The traceback frames as domain objects."""
        return tuple(
            Frame(path=f.path, line=f.line, function=f.function, in_repo=f.in_repo)
            for f in self.frames
        )


def read_lines(path: Path) -> LineMap | None:
    """Node id -> path -> executed lines, or ``None`` when missing, too large or malformed."""
    raw = read_untrusted(path, MAX_LINES_BYTES)
    if raw is None or len(raw) > MAX_LINES_BYTES:
        return None
    try:
        data: Any = json.loads(raw.decode("utf-8"))
        tests = _LINES.validate_python(data.get("tests") if isinstance(data, dict) else None)
    except (ValueError, ValidationError):
        return None
    return {
        nodeid: {file: tuple(sorted(set(lines))) for file, lines in files.items()}
        for nodeid, files in tests.items()
    }


def read_outcomes(path: Path) -> tuple[dict[str, list[Phase]], str | None]:
    """The phases of every test in the outcome log, and the plugin's error, if it wrote one.

    Lines that are not valid records are skipped; a log past :data:`MAX_OUTCOMES_BYTES` is read
    up to its last whole line before the limit.
    """
    raw = read_untrusted(path, MAX_OUTCOMES_BYTES)
    if raw is None:
        return {}, None
    if len(raw) > MAX_OUTCOMES_BYTES:
        raw = raw[: raw.rfind(b"\n", 0, MAX_OUTCOMES_BYTES) + 1]
    phases: dict[str, list[Phase]] = {}
    error: str | None = None
    for line in raw.decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        if "error" in record:
            error = str(record["error"])[:2000]
            continue
        try:
            phase = Phase.model_validate(record)
        except ValidationError:
            continue
        phases.setdefault(phase.nodeid, []).append(phase)
    return phases, error


def outcome_of(nodeid: str, records: list[Phase], outcome: Any) -> TestOutcome:
    """One test's :class:`TestOutcome` from its phases (``outcome`` decided by the caller)."""
    failed = next((r for r in records if r.outcome == "failed"), None)
    return TestOutcome(
        nodeid=nodeid,
        outcome=outcome,
        duration_s=round(sum(r.duration for r in records), 6),
        message=failed.message if failed else "",
        details=failed.details if failed else "",
        frames=failed.frame_objects() if failed else (),
    )
