"""Per-task results and the JSONL file they are appended to, one complete line per task.

Lines are written with a single ``write`` while ``SIGINT`` is blocked, so an interrupt never
leaves half a line. A file cut short by a harder kill is repaired on ``--resume``: lines that
do not parse are dropped, the rest is kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from patchloop.domain import Usage
from patchloop.errors import UsageError

__all__ = [
    "ERROR_LABELS",
    "ErrorLabel",
    "ResultsFile",
    "TaskResult",
    "WellFormed",
    "read_results",
]

ErrorLabel = Literal[
    "infra",
    "timeout",
    "harness_mismatch",
    "loop_error",
    "model_error",
    "nothing_to_fix",
    "crash",
]
#: What each error label means (shown in help and documentation).
ERROR_LABELS: dict[str, str] = {
    "infra": "the test command could not run or produced no report (not graded)",
    "timeout": "the task ran out of its time budget",
    "harness_mismatch": "the loop verified a fix that the harness's own run rejects",
    "loop_error": "the repair loop stopped with an error",
    "model_error": "a model backend failed (server down, replies exhausted, ...)",
    "nothing_to_fix": "no test failed at baseline, so the loop had nothing to fix",
    "crash": "the task's worker process died without a result",
}


class WellFormed(BaseModel):
    """How many replies of one model in one edit format parsed under the edit contract."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    model: str
    format: str
    well_formed: int = 0
    total: int = 0


class TaskResult(BaseModel):
    """One line of the results file: what happened to one task."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    resolved: bool
    """The loop verified a fix and the harness's own run of the task's tests confirms it."""
    loop_status: str = ""
    """``verified``, ``not_fixed``, ``nothing_to_fix``, ``error`` (empty: the loop never ended)."""
    stop_reason: str = ""
    harness_passed: bool | None = None
    """The harness's verdict on the final diff; ``None`` when there was no diff to judge."""
    harness_failing: tuple[str, ...] = ()
    restored: tuple[str, ...] = ()
    """Protected files the diff changed and the harness put back before judging."""
    diff: str = ""
    matches_reference: bool | None = None
    """For a resolved task: the patched code is the suite's reference fix (same syntax tree).
    ``None`` when not resolved or the suite has no reference."""
    fixed_by: str | None = None
    """Tier of the verified attempt: ``fixers`` or a model spec."""
    label: str | None = None
    """What produced the verified patch (fixer template and location)."""
    iterations: int = 0
    """Model calls."""
    candidates: int = 0
    """Model-free candidates tried."""
    attempts_per_tier: dict[str, int] = Field(default_factory=dict)
    tokens: Usage = Usage()
    sandbox_s: float = 0.0
    """Seconds the loop spent running tests in the sandbox."""
    harness_s: float = 0.0
    """Seconds the harness spent judging the final diff."""
    time_to_fix_s: float | None = None
    """Wall seconds of the loop when it verified a fix that the harness confirms."""
    wall_s: float = 0.0
    """Wall seconds of the whole task: repository set-up, repair and judging."""
    well_formed: tuple[WellFormed, ...] = ()
    error: ErrorLabel | None = None
    error_detail: str = ""
    category: str = ""


def read_results(path: Path) -> tuple[dict[str, TaskResult], int]:
    """Results in ``path`` by task id (a later line wins) and the number of unusable lines."""
    found: dict[str, TaskResult] = {}
    bad = 0
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return found, 0
    except OSError as exc:
        raise UsageError(f"cannot read results {path}: {exc.strerror or exc}") from exc
    for chunk in raw.split(b"\n"):
        if not chunk.strip():
            continue
        try:
            result = TaskResult.model_validate_json(chunk)
        except ValidationError:
            bad += 1
            continue
        found[result.id] = result
    return found, bad


def _ends_with_newline(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            if fh.seek(0, os.SEEK_END) == 0:
                return True
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"
    except FileNotFoundError:
        return True


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    # Only the main thread receives signals; elsewhere there is nothing to block.
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    except (AttributeError, ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class ResultsFile:
    """An append-only results file; use as a context manager."""

    def __init__(self, path: Path, *, resume: bool) -> None:
        self.path = path
        self.fd: int | None = None
        self.existing: dict[str, TaskResult] = {}
        self.dropped = 0
        if path.exists() and path.stat().st_size > 0 and not resume:
            raise UsageError(
                f"results file {path} already exists",
                hint="pass --resume to skip the tasks it holds, or remove it to start over",
            )
        if resume:
            self.existing, self.dropped = read_results(path)
            if self.dropped or not _ends_with_newline(path):
                self._rewrite()

    def _rewrite(self) -> None:
        # Keep only whole, valid lines, replacing the file atomically.
        tmp = self.path.with_name(self.path.name + ".tmp")
        text = "".join(r.model_dump_json() + "\n" for r in self.existing.values())
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(self.path)

    def __enter__(self) -> ResultsFile:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise UsageError(f"cannot write results {self.path}: {exc.strerror or exc}") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def append(self, result: TaskResult) -> None:
        """Append one complete line for ``result``."""
        assert self.fd is not None, "use ResultsFile as a context manager"
        data = (json.dumps(result.model_dump(mode="json"), ensure_ascii=False) + "\n").encode()
        with _sigint_blocked():
            view = memoryview(data)
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
