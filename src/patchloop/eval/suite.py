"""Reading task suites (the task-suite JSONL format, version 1) into typed tasks.

Parsing is pure: :func:`parse_suite` turns the bytes of a suite into tasks and a list of
problems, one per rejected line, each with its line number. A bad line never stops the others.
The reference patch and the metadata that describe the fix (``gold_patch``, ``meta.bug_lines``,
``meta.gold_functions``, ...) are not part of a task, so nothing downstream can show them to the
system under test; the reference patch is kept apart, for the harness's own comparison.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from patchloop.errors import UsageError

__all__ = ["ParsedSuite", "SuiteProblem", "SuiteTask", "load_suite", "parse_suite"]

ID_PATTERN = re.compile(r"^[A-Za-z0-9_./-]+$")
#: Fields a loader requires, with the JSON type each must have.
REQUIRED: dict[str, type] = {
    "id": str,
    "task": str,
    "files": dict,
    "test_cmd": str,
    "fail_to_pass": list,
}
#: Optional fields, with the JSON type each must have when present.
OPTIONAL: dict[str, type] = {"pass_to_pass": list, "meta": dict}


class SuiteTask(BaseModel):
    """One task of a suite, as the harness needs it: without the reference fix."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    task: str
    """What the user asks for, in plain language."""
    files: dict[str, str]
    """The repository at its buggy base state: relative POSIX path to exact text."""
    test_cmd: str
    fail_to_pass: tuple[str, ...]
    pass_to_pass: tuple[str, ...] = ()
    category: str = ""
    """``meta.category`` (the bug class), kept for per-category reports."""
    line: int = 0
    """1-based line of the suite file the task came from."""

    @property
    def nodeids(self) -> tuple[str, ...]:
        """``fail_to_pass`` then ``pass_to_pass``: every test that judges a fix."""
        return self.fail_to_pass + self.pass_to_pass


class SuiteProblem(BaseModel):
    """A suite line that was skipped, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line: int
    id: str | None = None
    message: str


class ParsedSuite(BaseModel):
    """The usable tasks of a suite and the lines that were skipped."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tasks: tuple[SuiteTask, ...] = ()
    problems: tuple[SuiteProblem, ...] = ()
    references: dict[str, str] = Field(default_factory=dict, repr=False)
    """Task id to ``gold_patch``, for the harness's own comparison only: never printed, never
    passed to a worker."""


def safe_relpath(path: str) -> bool:
    """Whether ``path`` is a relative POSIX path without ``.``/``..``/``.git`` segments."""
    if not path or "\\" in path or "\0" in path:
        return False
    parts = PurePosixPath(path).parts
    return (
        not path.startswith("/")
        and str(PurePosixPath(path)) == path
        and not {".", "..", ".git"} & set(parts)
    )


def _problems(data: Mapping[str, Any]) -> list[str]:
    """What is wrong with one decoded line (empty when it is a usable task)."""
    found = []
    for key, kind in REQUIRED.items():
        if key not in data:
            extra = (
                " (tasks with repo/ref are not part of format version 1)" if key == "files" else ""
            )
            found.append(f"missing field {key!r}{extra}")
        elif not isinstance(data[key], kind):
            found.append(
                f"field {key!r} is not a JSON {'object' if kind is dict else kind.__name__}"
            )
    for key, kind in OPTIONAL.items():
        if key in data and not isinstance(data[key], kind):
            found.append(
                f"field {key!r} is not a JSON {'object' if kind is dict else kind.__name__}"
            )
    if found:
        return found
    if not ID_PATTERN.match(data["id"]):
        found.append(f"id {data['id']!r} has characters outside [A-Za-z0-9_./-]")
    for path, text in data["files"].items():
        if not safe_relpath(path):
            found.append(f"file path {path!r} is not a safe relative POSIX path")
        if not isinstance(text, str):
            found.append(f"content of {path!r} is not a string")
    f2p, p2p = data["fail_to_pass"], data.get("pass_to_pass", [])
    if not f2p:
        found.append("fail_to_pass is empty")
    if not all(isinstance(n, str) and n for n in [*f2p, *p2p]):
        found.append("node ids must be non-empty strings")
    elif set(f2p) & set(p2p):
        found.append("fail_to_pass and pass_to_pass overlap")
    if not data["test_cmd"].strip():
        found.append("test_cmd is empty")
    return found


def _task(data: Mapping[str, Any], line: int) -> SuiteTask:
    meta = data.get("meta") or {}
    category = meta.get("category")
    return SuiteTask(
        id=data["id"],
        task=data["task"],
        files=dict(data["files"]),
        test_cmd=data["test_cmd"],
        fail_to_pass=tuple(dict.fromkeys(data["fail_to_pass"])),
        pass_to_pass=tuple(dict.fromkeys(data.get("pass_to_pass", []))),
        category=category if isinstance(category, str) else "",
        line=line,
    )


def parse_suite(raw: bytes) -> ParsedSuite:
    """Tasks and skipped lines of a suite file's bytes; blank lines are ignored."""
    tasks: list[SuiteTask] = []
    problems: list[SuiteProblem] = []
    references: dict[str, str] = {}
    seen: dict[str, int] = {}
    for number, chunk in enumerate(raw.split(b"\n"), start=1):
        if not chunk.strip():
            continue
        try:
            data = json.loads(chunk.decode("utf-8"))
        except UnicodeDecodeError as exc:
            problems.append(SuiteProblem(line=number, message=f"not UTF-8: {exc.reason}"))
            continue
        except json.JSONDecodeError as exc:
            problems.append(SuiteProblem(line=number, message=f"not valid JSON: {exc.msg}"))
            continue
        if not isinstance(data, dict):
            problems.append(SuiteProblem(line=number, message="not a JSON object"))
            continue
        task_id = data.get("id") if isinstance(data.get("id"), str) else None
        errors = _problems(data)
        if not errors and task_id in seen:
            errors = [f"duplicate id (first on line {seen[task_id]})"]
        if errors:
            problems.append(SuiteProblem(line=number, id=task_id, message="; ".join(errors)))
            continue
        assert task_id is not None
        seen[task_id] = number
        tasks.append(_task(data, number))
        if isinstance(data.get("gold_patch"), str) and data["gold_patch"].strip():
            references[task_id] = data["gold_patch"]
    return ParsedSuite(tasks=tuple(tasks), problems=tuple(problems), references=references)


def load_suite(path: Path) -> ParsedSuite:
    """Read and parse the suite at ``path``; an unreadable file is a usage error."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"cannot read the task suite {path}: {exc.strerror or exc}",
            hint="pass a task-suite JSONL file (one task per line)",
        ) from exc
    return parse_suite(raw)
