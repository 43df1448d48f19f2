"""Evaluating one task: materialize it, run the repair loop, judge the final diff, report.

Runs inside a worker process of its own (see :mod:`patchloop.eval.pool`); everything it
creates lives in one scratch directory that is removed when the task ends.
"""

from __future__ import annotations

import re
import shlex
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from patchloop.config import Config
from patchloop.domain import RunRecord, Task
from patchloop.errors import BudgetExceeded, PatchloopError, SandboxError
from patchloop.eval.judge import Judgement, judge
from patchloop.eval.materialize import init_repo
from patchloop.eval.results import ErrorLabel, TaskResult, WellFormed
from patchloop.eval.suite import SuiteTask
from patchloop.loop import repair
from patchloop.sandbox import get_sandbox, make_temp_dir, remove_tree
from patchloop.store import RunStore

__all__ = ["EvalSettings", "evaluate_task", "result_from_record"]


class EvalSettings(BaseModel):
    """How every task of an evaluation is run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    config: Config
    """Configuration of the repair loop (models, budgets, sandbox); ``timeout`` is per task."""
    test_timeout: float = 5.0
    """Seconds one test may run, in the loop and in the harness's own run."""
    name_tests: bool = False
    """Tell the loop the ``fail_to_pass`` node ids; otherwise it targets whatever fails."""
    records_dir: Path | None = None
    """Keep each task's run record under this directory (``None``: discard them)."""


def _elapsed(t0: float) -> float:
    return round(time.monotonic() - t0, 4)


def failed_result(
    task: SuiteTask, label: ErrorLabel, detail: str, *, wall_s: float = 0.0
) -> TaskResult:
    """The result of a task that ended before the loop produced a record."""
    return TaskResult(
        id=task.id,
        resolved=False,
        error=label,
        error_detail=detail[-2000:],
        wall_s=wall_s,
        category=task.category,
    )


def _state_dir(settings: EvalSettings, task: SuiteTask, scratch: Path) -> Path:
    if settings.records_dir is None:
        return scratch / "state"
    return settings.records_dir / re.sub(r"[^A-Za-z0-9_.-]", "__", task.id)


def _last_record(state: Path) -> RunRecord | None:
    """The record a failed run left behind, for its counts; ``None`` when there is none."""
    try:
        store = RunStore(state)
        ids = store.ids()
        return store.load(ids[-1]) if ids else None
    except (PatchloopError, OSError, ValueError):
        return None


def _label(
    record: RunRecord, judgement: Judgement | None, resolved: bool, budget_s: float | None
) -> ErrorLabel | None:
    if judgement is not None and judgement.error == "infra":
        return "infra"
    if record.verified and not resolved:
        return "harness_mismatch"
    # A run cut by its wall clock can look like anything (a baseline killed before it reported
    # reads as "nothing to fix"); the budget is what ended it.
    out_of_time = budget_s is not None and record.wall_s >= budget_s
    if not resolved and (record.stop_reason == "time" or out_of_time):
        return "timeout"
    if record.status == "nothing_to_fix":
        return "nothing_to_fix"
    if record.status == "error":
        return "loop_error"
    if not resolved and record.stop_reason == "model_error":
        return "model_error"
    return None


def result_from_record(
    task: SuiteTask,
    record: RunRecord,
    judgement: Judgement | None,
    *,
    edit_format: str,
    wall_s: float,
    budget_s: float | None = None,
) -> TaskResult:
    """One results line from the loop's record and the harness's judgement."""
    passed = None if judgement is None else judgement.passed
    resolved = record.verified and passed is True
    per_tier = Counter(a.tier for a in record.attempts)
    # "Fixed by" only what the harness confirms; the loop's own claim is ``loop_status``.
    winner = next((a for a in record.attempts if a.status == "verified" and resolved), None)
    formed: dict[tuple[str, str], list[int]] = {}
    for attempt in record.attempts:
        if attempt.well_formed is not None:
            key = (attempt.tier, attempt.edit_format or edit_format)
            counts = formed.setdefault(key, [0, 0])
            counts[0] += int(attempt.well_formed)
            counts[1] += 1
    label = _label(record, judgement, resolved, budget_s)
    detail = ""
    if label == "harness_mismatch" and judgement is not None:
        detail = judgement.detail or "failing in the harness: " + ", ".join(judgement.failing)
    elif label == "infra" and judgement is not None:
        detail = judgement.detail
    elif label is not None:
        detail = record.error or record.stop_reason
    return TaskResult(
        id=task.id,
        resolved=resolved,
        loop_status=record.status,
        stop_reason=record.stop_reason,
        harness_passed=passed,
        harness_failing=judgement.failing if judgement is not None else (),
        restored=judgement.restored if judgement is not None else (),
        diff=record.diff,
        fixed_by=winner.tier if winner is not None else None,
        label=winner.label or None if winner is not None else None,
        iterations=sum(n for tier, n in per_tier.items() if tier != "fixers"),
        candidates=per_tier.get("fixers", 0),
        attempts_per_tier=dict(per_tier),
        tokens=record.usage,
        sandbox_s=record.sandbox_s,
        harness_s=judgement.seconds if judgement is not None else 0.0,
        time_to_fix_s=record.wall_s if resolved else None,
        wall_s=wall_s,
        well_formed=tuple(
            WellFormed(model=tier, format=name, well_formed=ok, total=total)
            for (tier, name), (ok, total) in formed.items()
        ),
        error=label,
        error_detail=detail[-2000:],
        category=task.category,
    )


def evaluate_task(task: SuiteTask, settings: EvalSettings) -> TaskResult:
    """Repair ``task`` in a fresh repository and judge the outcome independently."""
    t0 = time.monotonic()
    scratch = make_temp_dir("eval")
    try:
        return _evaluate(task, settings, scratch, t0)
    finally:
        remove_tree(scratch)


def _evaluate(task: SuiteTask, settings: EvalSettings, scratch: Path, t0: float) -> TaskResult:
    try:
        argv = tuple(shlex.split(task.test_cmd))
    except ValueError as exc:
        return failed_result(task, "infra", f"test_cmd cannot be split: {exc}", wall_s=_elapsed(t0))
    config = settings.config.model_copy(
        update={
            "tests": settings.config.tests.model_copy(
                update={"per_test_timeout": settings.test_timeout}
            )
        }
    )
    try:
        repo = init_repo(task.files, scratch / "repo")
    except SandboxError as exc:
        return failed_result(task, "infra", str(exc), wall_s=_elapsed(t0))
    state = _state_dir(settings, task, scratch)
    loop_task = Task(
        repo=repo,
        description=task.task,
        tests=task.fail_to_pass if settings.name_tests else (),
        test_cmd=argv,
        allow_test_edits=config.allow_test_edits,
    )
    label: ErrorLabel
    try:
        record = repair(loop_task, config, state_dir=state)
    except SandboxError as exc:
        label, detail = "infra", str(exc)
    except BudgetExceeded as exc:
        label, detail = "timeout", str(exc)
    except PatchloopError as exc:
        label, detail = "loop_error", f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # one task's failure must not end the suite
        label, detail = "loop_error", f"{type(exc).__name__}: {exc}"
    else:
        judgement = None
        if record.diff:
            with closing(get_sandbox(config.sandbox)) as sandbox:
                judgement = judge(
                    task,
                    record.diff,
                    sandbox=sandbox,
                    config=config,
                    per_test_timeout=settings.test_timeout,
                )
        return result_from_record(
            task,
            record,
            judgement,
            edit_format=config.edit_format,
            wall_s=_elapsed(t0),
            budget_s=config.timeout,
        )
    partial = _last_record(state)
    if partial is None:
        return failed_result(task, label, detail, wall_s=_elapsed(t0))
    base = result_from_record(
        task, partial, None, edit_format=config.edit_format, wall_s=_elapsed(t0)
    )
    return base.model_copy(
        update={"resolved": False, "fixed_by": None, "error": label, "error_detail": detail[-2000:]}
    )
