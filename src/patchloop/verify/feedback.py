"""Trimmed, deterministic failure feedback for the next prompt.

Output depends only on the report and the files under ``root``: no timings and no temporary
paths, so consecutive prompts stay byte-stable when nothing changed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from patchloop.domain import Frame, Outcome, TestOutcome, TestReport
from patchloop.sandbox import read_untrusted
from patchloop.verify.collection import describe, is_collection_error
from patchloop.verify.condense import case_arguments, condense, group_key
from patchloop.verify.green import named_by

__all__ = ["head_tail", "render_failures"]

#: Smallest share of the budget one failing test gets before later ones are only counted.
MIN_PER_TEST = 600
MAX_FRAMES = 8
#: Largest source file whose lines are quoted in feedback.
MAX_SOURCE_BYTES = 8 * 1024 * 1024
#: Characters kept free for the "[... N lines omitted ...]" marker and its line breaks.
_MARKER_ROOM = 48
#: Object addresses in reprs (``<Foo object at 0x7f3a...>``) differ on every run.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+>")


def head_tail(text: str, budget: int) -> str:
    """``text`` cut to at most ``budget`` characters: whole head and tail lines around a marker."""
    if len(text) <= budget:
        return text
    room = max(budget - _MARKER_ROOM, 0)
    head_budget = room * 2 // 5
    tail_budget = room - head_budget
    lines = text.splitlines()
    head: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > head_budget:
            break
        head.append(line)
        used += len(line) + 1
    tail: list[str] = []
    used = 0
    for line in reversed(lines[len(head) :]):
        if used + len(line) + 1 > tail_budget:
            break
        tail.append(line)
        used += len(line) + 1
    tail.reverse()
    if not head and not tail:
        # Lines too long to keep whole: cut by characters.
        dropped = len(text) - head_budget - tail_budget
        end = text[len(text) - tail_budget :] if tail_budget else ""
        return f"{text[:head_budget]}\n[... {dropped} characters omitted ...]\n{end}"
    omitted = len(lines) - len(head) - len(tail)
    return "\n".join([*head, f"[... {omitted} lines omitted ...]", *tail])


def _block(text: str, budget: int) -> str:
    """``text`` indented by four spaces, then cut to ``budget`` characters."""
    indented = "\n".join(f"    {line}" for line in text.strip("\n").splitlines())
    return head_tail(indented, budget)


class _Sources:
    """Lines of repository files, read once per render."""

    def __init__(self, root: Path | None) -> None:
        self.root = root.resolve() if root is not None else None
        self._cache: dict[str, list[str] | None] = {}

    def line(self, path: str, number: int) -> str | None:
        if self.root is None:
            return None
        if path not in self._cache:
            self._cache[path] = self._read(path)
        lines = self._cache[path]
        if lines is None or not 1 <= number <= len(lines):
            return None
        return lines[number - 1].strip()

    def _read(self, path: str) -> list[str] | None:
        assert self.root is not None
        target = (self.root / path).resolve()
        if not target.is_relative_to(self.root):
            return None
        # The tests ran in this tree: a file there may be huge, a FIFO or a link elsewhere.
        data = read_untrusted(target, MAX_SOURCE_BYTES)
        if data is None or len(data) > MAX_SOURCE_BYTES:
            return None
        return data.decode("utf-8", "replace").splitlines()


def _frame_lines(frames: Sequence[Frame], sources: _Sources) -> list[str]:
    """Frames inside the repository with their source line; a run of the same frame (a
    recursion) is shown once with its count."""
    lines: list[str] = []
    shown = [f for f in frames if f.in_repo][-MAX_FRAMES:]
    runs: list[tuple[Frame, int]] = []
    for frame in shown:
        if runs and runs[-1][0] == frame:
            runs[-1] = (frame, runs[-1][1] + 1)
        else:
            runs.append((frame, 1))
    for frame, count in runs:
        where = f"  at {frame.path}:{frame.line}"
        where = f"{where} in {frame.function}" if frame.function else where
        lines.append(f"{where} ({count} times in a row)" if count > 1 else where)
        source = sources.line(frame.path, frame.line)
        if source:
            lines.append(f"      {source}")
    return lines


def _render_test(result: TestOutcome, budget: int, sources: _Sources) -> str:
    if is_collection_error(result):
        lines = [
            f"COLLECTION ERROR {result.nodeid}: pytest could not import or collect this file",
            f"  {describe(result)}",
        ]
        result = result.model_copy(update={"message": ""})
    else:
        lines = [f"{result.outcome.value.upper()} {result.nodeid}"]
    if result.message:
        lines.append(f"  {result.message}")
    arguments = _arguments(result)
    if arguments:
        lines.append(f"  with {arguments}")
    lines.extend(_frame_lines(result.frames, sources))
    text = "\n".join(lines)
    room = budget - len(text) - 12
    # Pytest's long report condensed; anything else (a crash's output) as it came.
    details = condense(result.details) or result.details
    if details.strip() and room > 80:
        text += "\n  details:\n" + _block(details, room)
    return text


def _arguments(result: TestOutcome) -> str:
    """A case's arguments: as the plugin sent them, else as pytest's report printed them."""
    return result.arguments or case_arguments(result.details)


def _render_same(result: TestOutcome, same_message: bool) -> str:
    """A case of a test already shown in full: one line with its error and arguments."""
    arguments = _arguments(result)
    said = "the same error" if same_message else result.message.strip().splitlines()[0][:300]
    line = f"{result.outcome.value.upper()} {result.nodeid}: {said}"
    return f"{line}, with {arguments}" if arguments else line


def _selected(report: TestReport, nodeids: Sequence[str]) -> list[TestOutcome]:
    by_id = report.by_id()
    wanted = list(nodeids) or [o.nodeid for o in report.outcomes]
    results: list[TestOutcome] = []
    for nodeid in dict.fromkeys(wanted):
        result = by_id.get(nodeid)
        if result is None:
            # A selected file or function stands for the cases reported below it.
            below = [o for o in report.outcomes if named_by(nodeid, o.nodeid)]
            if below:
                results.extend(below)
                continue
            if report.status == "no_report":
                continue
            result = TestOutcome(nodeid=nodeid, outcome=Outcome.MISSING, message="not run")
        results.append(result)
    failing = [r for r in results if not r.outcome.ok and r.outcome != Outcome.SKIPPED]
    return list({r.nodeid: r for r in failing}.values())


def _process_section(report: TestReport, budget: int) -> str:
    process = report.process
    if report.status == "timeout":
        head = "The test run was stopped at its wall-clock limit."
    else:
        head = "The test command produced no test report."
    if process is None:
        return head
    parts = [head]
    if process.error:
        parts.append(f"error: {process.error}")
    elif process.exit_code is not None:
        parts.append(f"exit code: {process.exit_code}")
    if process.killed_by and process.killed_by != "wall":
        parts.append(f"stopped by the {process.killed_by} limit")
    streams = [(n, s) for n, s in (("stdout", process.stdout), ("stderr", process.stderr)) if s]
    for name, stream in streams:
        share = max((budget - sum(map(len, parts))) // len(streams) - 20, 200)
        parts.append(f"{name}:\n" + _block(stream, share))
    return "\n".join(parts)


def render_failures(
    report: TestReport,
    nodeids: Sequence[str] = (),
    *,
    max_chars: int = 6000,
    root: Path | None = None,
) -> str:
    """Feedback on the tests among ``nodeids`` (all reported, when empty) that are not green.

    Per test: node id and outcome, the message, the frames inside the repository with their
    source line (read from ``root`` when given) and the head and tail of pytest's report. When
    the run timed out or wrote no report, the head and tail of stdout and stderr follow. The
    result is at most ``max_chars`` characters.
    """
    sources = _Sources(root)
    failing = _selected(report, nodeids)
    sections: list[str] = []
    budget = max_chars
    if report.status in ("timeout", "no_report"):
        process_budget = max_chars // 2 if failing else max_chars
        sections.append(_process_section(report, process_budget))
        budget -= len(sections[0]) + 2
    count = max(1, min(len(failing), max(budget, 0) // MIN_PER_TEST))
    per_test = max(budget, 0) // count
    # The first case of a test in full; later cases of it in one line each (its error and
    # arguments), so that a parametrized test does not fill the prompt with one traceback.
    # Later cases with the same error and no arguments of their own to show (all cases of a
    # file that failed to import) share one line.
    shown: dict[str, str] = {}
    alike: dict[str, tuple[int, list[TestOutcome]]] = {}
    for result in failing[:count]:
        test, message = group_key(result.nodeid, result.message)
        if test in shown and message:
            same = shown[test] == message
            if same and not _arguments(result):
                if test not in alike:
                    alike[test] = (len(sections), [])
                    sections.append("")
                alike[test][1].append(result)
                continue
            sections.append(_render_same(result, same_message=same))
            continue
        shown.setdefault(test, message)
        sections.append(_render_test(result, per_test - 2, sources))
    for test, (at, cases) in alike.items():
        sections[at] = (
            _render_same(cases[0], same_message=True)
            if len(cases) == 1
            else f"{cases[0].outcome.value.upper()} {len(cases)} more cases of {test}: "
            "the same error"
        )
    if len(failing) > count:
        rest = failing[count:]
        sections.append(
            f"... and {len(rest)} more not passing: " + ", ".join(r.nodeid for r in rest[:20])
        )
    text = _ADDRESS.sub(" at 0x...>", "\n\n".join(sections))
    if len(text) > max_chars:
        marker = "\n[... feedback truncated ...]"
        text = text[: max(max_chars - len(marker), 0)] + marker
    return text
