"""The ruff fixer: ruff's safe autofixes for lint-class failures, one rule at a time."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

from patchloop.domain import FileChange, Location, Patch, Task
from patchloop.edits.diff import make_patch
from patchloop.fixers.template_fixer import read_editable

__all__ = ["DEFAULT_RULES", "RuffFixer", "find_ruff"]

DEFAULT_RULES: tuple[str, ...] = (
    # Fixes that change behaviour come first: these are real bugs.
    "F632",  # ``is`` with a literal: identity instead of equality
    "F901",  # ``raise NotImplemented``: not an exception
    "W605",  # invalid escape sequence (a warning that tests may turn into an error)
    "B011",  # ``assert False`` (removed under -O)
    "E711",  # comparison to None
    "E712",  # comparison to True/False
    "F811",  # redefinition of an unused name
    # Then lint-only fixes, for tests that run a linter.
    "F401",  # unused import
    "F541",  # f-string without placeholders
    "E401",  # several imports on one line
    "E703",  # useless semicolon
    "E711",  # comparison to None
    "E712",  # comparison to True/False
    "E713",  # ``not x in y``
    "E714",  # ``not x is y``
    "W291",  # trailing whitespace
    "W292",  # no newline at end of file
    "W293",  # whitespace on a blank line
    "I001",  # unsorted imports
    "B009",  # getattr with a constant
    "B010",  # setattr with a constant
    "B033",  # duplicate value in a set literal
    "UP",  # pyupgrade
    "RUF100",  # unused noqa
)
"""Rules whose fixes are safe to propose; the harness verifies each candidate anyway."""


def find_ruff() -> str | None:
    """Path of a ruff executable: the ``ruff`` package's, next to Python, or on ``PATH``."""
    try:
        from ruff.__main__ import find_ruff_bin  # type: ignore[import-untyped]

        return os.fsdecode(find_ruff_bin())
    except (ImportError, FileNotFoundError):
        pass
    sibling = Path(sys.executable).with_name("ruff")
    if sibling.is_file():
        return str(sibling)
    return shutil.which("ruff")


class RuffFixer:
    """Proposes, per suspicious Python file, ruff's safe fixes: one candidate per rule code that
    has fixable violations (smallest diffs first), then one with all of them.

    Ruff runs on a copy of the file in a temporary directory with ``--isolated`` (the project's
    own configuration may disable exactly the rules that matter); the snapshot is never written.
    Without a ruff executable the fixer proposes nothing.
    """

    name = "ruff"

    def __init__(
        self,
        rules: Sequence[str] = DEFAULT_RULES,
        *,
        unsafe: bool = False,
        timeout: float = 30.0,
        executable: str | None = None,
    ) -> None:
        self.rules = tuple(rules)
        self.unsafe = unsafe
        self.timeout = timeout
        self.executable = executable

    def candidates(self, task: Task, locations: Sequence[Location], root: Path) -> Iterator[Patch]:
        """Candidate patches against the tree at ``root``, files in location order."""
        return self._run(task, tuple(locations), Path(root))

    def _run(self, task: Task, locations: Sequence[Location], root: Path) -> Iterator[Patch]:
        ruff = self.executable or find_ruff()
        if ruff is None:
            return
        seen: set[str] = set()
        for loc in locations:
            if loc.path in seen:
                continue
            seen.add(loc.path)
            text = read_editable(task, loc.path, root)
            if text is not None:
                yield from self._file(ruff, loc.path, text)

    def _file(self, ruff: str, path: str, text: str) -> Iterator[Patch]:
        with tempfile.TemporaryDirectory(prefix="patchloop-ruff-") as tmp:
            work = Path(tmp) / PurePosixPath(path).name
            codes = self._fixable_codes(ruff, work, text)
            seen: set[str] = {text}
            groups: list[tuple[str, tuple[str, ...]]] = [(code, (code,)) for code in codes]
            if len(codes) > 1:
                groups.append(("all", tuple(codes)))
            for label, group in groups:
                fixed = self._fix(ruff, work, text, group)
                if fixed is None or fixed in seen or not _parses(fixed):
                    continue
                seen.add(fixed)
                yield make_patch(
                    [FileChange(path=path, before=text, after=fixed)],
                    label=f"ruff: {path} {label if label != 'all' else '+'.join(codes)}",
                )

    def _ruff(self, ruff: str, args: Sequence[str], work: Path) -> subprocess.CompletedProcess[str]:
        argv = [ruff, "check", "--isolated", "--no-cache", "--exit-zero", *args, str(work)]
        if self.unsafe:
            argv.insert(2, "--unsafe-fixes")
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=self.timeout,
            cwd=work.parent,
            check=False,
        )

    def _fixable_codes(self, ruff: str, work: Path, text: str) -> list[str]:
        work.write_text(text, encoding="utf-8", newline="")
        select = ",".join(self.rules)
        try:
            proc = self._ruff(ruff, ["--output-format", "json", "--select", select], work)
            violations = json.loads(proc.stdout or "[]")
        except (OSError, subprocess.SubprocessError, json.JSONDecodeError):
            return []
        codes: list[str] = []
        for item in violations if isinstance(violations, list) else []:
            fix = item.get("fix") if isinstance(item, dict) else None
            code = item.get("code") if isinstance(item, dict) else None
            if not fix or not isinstance(code, str) or code in codes:
                continue
            if fix.get("applicability") == "safe" or self.unsafe:
                codes.append(code)
        return sorted(codes, key=self._priority)

    def _priority(self, code: str) -> int:
        """Position of the first selected rule (or prefix) that matches ``code``."""
        for i, rule in enumerate(self.rules):
            if code.startswith(rule):
                return i
        return len(self.rules)

    def _fix(self, ruff: str, work: Path, text: str, codes: Sequence[str]) -> str | None:
        work.write_text(text, encoding="utf-8", newline="")
        try:
            self._ruff(ruff, ["--fix", "--select", ",".join(codes)], work)
            with work.open(encoding="utf-8", newline="") as fh:
                return fh.read()
        except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
            return None


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return True
