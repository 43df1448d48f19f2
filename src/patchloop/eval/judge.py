"""The harness's own verdict on a diff, independent of what the repair loop concluded.

Start from a fresh copy of the task's files, apply the diff, put the protected files back to
their base content (the test files named in the node ids, every ``conftest.py``, the root
pytest configuration), and run ``fail_to_pass`` + ``pass_to_pass`` through the sandbox. The
fix counts only if every one of those tests passed: skipped, xfailed, xpassed, missing or
timed-out tests do not (the rule of :mod:`patchloop.verify.green`, without a baseline).
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from patchloop.config import Config
from patchloop.domain import TestOutcome, TestSelection
from patchloop.edits import apply_diff
from patchloop.errors import EditError, SandboxError
from patchloop.eval.materialize import write_files
from patchloop.eval.suite import SuiteTask
from patchloop.protocols import Sandbox
from patchloop.sandbox import limits_from_settings, make_temp_dir, remove_tree
from patchloop.verify import PytestRunner
from patchloop.verify.green import is_green, tests_named

__all__ = ["Judgement", "judge", "protected_paths", "restore_protected"]

#: Files pytest may take its root configuration from, in its own order of preference.
DEDICATED_CONFIGS = ("pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml")
#: Shared files that configure pytest only when they hold its section.
SHARED_CONFIGS = {
    "pyproject.toml": "[tool.pytest",
    "tox.ini": "[pytest]",
    "setup.cfg": "[tool:pytest]",
}
#: Slack on top of the per-test timeouts for one judging run (interpreter and pytest start-up).
RUN_SLACK_S = 60.0


class Judgement(BaseModel):
    """What the harness found when it ran the task's tests on a diff."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    passed: bool
    """Every ``fail_to_pass`` and ``pass_to_pass`` test passed."""
    failing: tuple[str, ...] = ()
    """Node ids that did not pass (at most the first 20)."""
    outcomes: dict[str, str] = Field(default_factory=dict)
    """Outcome per judged node id."""
    restored: tuple[str, ...] = ()
    """Protected paths the diff had changed and that were put back."""
    error: str | None = None
    """``apply`` (the diff does not apply to the base) or ``infra`` (no test report)."""
    detail: str = ""
    seconds: float = 0.0


def _configures_pytest(name: str, text: str | None) -> bool:
    if name in DEDICATED_CONFIGS:
        return True
    marker = SHARED_CONFIGS.get(name)
    return marker is not None and text is not None and marker in text


def protected_paths(task: SuiteTask, present: Mapping[str, str | None]) -> set[str]:
    """Paths the harness restores: node-id test files, every ``conftest.py``, the root config.

    ``present`` maps every path that exists after the diff to its text (``None`` when not
    readable as text), so that new ``conftest.py`` or root configuration files count too.
    """
    paths = {nodeid.split("::")[0] for nodeid in task.nodeids}
    for path in {*task.files, *present}:
        name = path.rsplit("/", 1)[-1]
        config = "/" not in path and (
            _configures_pytest(name, task.files.get(path))
            or _configures_pytest(name, present.get(path))
        )
        if name == "conftest.py" or config:
            paths.add(path)
    return paths


def _tree(root: Path) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            full = Path(directory, name)
            rel = full.relative_to(root).as_posix()
            try:
                found[rel] = full.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                found[rel] = None
    return found


def restore_protected(task: SuiteTask, root: Path) -> tuple[str, ...]:
    """Put every protected path under ``root`` back to its base state; return those changed."""
    present = _tree(root)
    changed = []
    for path in sorted(protected_paths(task, present)):
        base = task.files.get(path)
        if present.get(path) == base and (path in present) == (base is not None):
            continue
        changed.append(path)
        target = root / path
        if base is None:
            target.unlink(missing_ok=True)
        else:
            write_files({path: base}, root)
    return tuple(changed)


def _outcome(nodeid: str, outcomes: Mapping[str, TestOutcome]) -> str:
    found = outcomes.get(nodeid)
    if found is not None:
        return found.outcome.value
    if is_green(nodeid, outcomes):
        return "passed"
    return "failed" if tests_named(nodeid, outcomes) else "missing"


def judge(
    task: SuiteTask,
    diff: str,
    *,
    sandbox: Sandbox,
    config: Config,
    per_test_timeout: float,
) -> Judgement:
    """Apply ``diff`` to a fresh copy of ``task``'s files and run its judging tests."""
    t0 = time.monotonic()
    scratch = make_temp_dir("judge")
    try:
        root = scratch / "repo"
        write_files(task.files, root)
        try:
            apply_diff(root, diff, dry_run=False)
        except EditError as exc:
            return Judgement(
                passed=False,
                error="apply",
                detail=f"the diff does not apply to the base files: {exc.message}",
                seconds=round(time.monotonic() - t0, 4),
            )
        restored = restore_protected(task, root)
        return _run(
            task,
            root,
            sandbox=sandbox,
            config=config,
            per_test_timeout=per_test_timeout,
            restored=restored,
            t0=t0,
        )
    finally:
        remove_tree(scratch)


def _run(
    task: SuiteTask,
    root: Path,
    *,
    sandbox: Sandbox,
    config: Config,
    per_test_timeout: float,
    restored: tuple[str, ...],
    t0: float,
) -> Judgement:
    limits = limits_from_settings(
        config.tests,
        config.sandbox,
        wall_s=RUN_SLACK_S + max(per_test_timeout, 1.0) * len(task.nodeids),
    )
    try:
        argv = shlex.split(task.test_cmd)
    except ValueError as exc:
        return Judgement(
            passed=False, restored=restored, error="infra", detail=f"bad test_cmd: {exc}"
        )
    runner = PytestRunner(
        sandbox,
        argv,
        limits=limits,
        per_test_timeout=per_test_timeout,
        python=sys.executable,
    )
    try:
        # The sandbox's own copy: an isolating sandbox sees only workspaces it made itself.
        with sandbox.workspace(root) as workspace:
            report = runner.run(workspace, TestSelection(nodeids=task.nodeids))
    except SandboxError as exc:
        return Judgement(
            passed=False,
            restored=restored,
            error="infra",
            detail=f"the sandbox failed: {exc}",
            seconds=round(time.monotonic() - t0, 4),
        )
    seconds = round(time.monotonic() - t0, 4)
    process = report.process
    if report.status == "no_report" or (process is not None and process.error):
        why = process.error if process is not None and process.error else "no test report"
        tail = (process.stderr or process.stdout).strip()[-500:] if process is not None else ""
        return Judgement(
            passed=False,
            restored=restored,
            error="infra",
            detail=f"the test command produced no report: {why}" + (f"\n{tail}" if tail else ""),
            seconds=seconds,
        )
    outcomes = report.by_id()
    # The loop's rule, without a baseline: every test a judged id names must pass.
    failing = [n for n in task.nodeids if not is_green(n, outcomes)]
    return Judgement(
        passed=not failing,
        failing=tuple(failing[:20]),
        outcomes={n: _outcome(n, outcomes) for n in task.nodeids},
        restored=restored,
        seconds=seconds,
    )
