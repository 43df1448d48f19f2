"""``run_suite``: select tasks, skip those already done, run the rest, summarize."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from patchloop.errors import UsageError
from patchloop.eval.pool import run_pool
from patchloop.eval.reference import matches_reference
from patchloop.eval.results import ResultsFile, TaskResult
from patchloop.eval.suite import ParsedSuite, SuiteProblem, SuiteTask, load_suite
from patchloop.eval.summary import Summary, summarize
from patchloop.eval.worker import EvalSettings

__all__ = ["SuiteRun", "run_suite", "select_tasks"]

#: Error labels ``retry_errors`` runs again on ``resume``: failures of the environment or of
#: the loop itself, not verdicts on a fix.
RETRYABLE = frozenset({"infra", "crash", "loop_error"})


class SuiteRun(BaseModel):
    """What ``run_suite`` did: every selected task's result and the summary over them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    summary: Summary
    results: list[TaskResult] = Field(default_factory=list)
    """One per selected task with a result, in suite order."""
    ran: int = 0
    """Tasks run by this call (the others came from the results file)."""
    problems: list[SuiteProblem] = Field(default_factory=list)


def select_tasks(tasks: Sequence[SuiteTask], filters: Sequence[str]) -> list[SuiteTask]:
    """Tasks whose id matches any of the glob ``filters`` (all tasks when there are none)."""
    if not filters:
        return list(tasks)
    return [t for t in tasks if any(fnmatch.fnmatchcase(t.id, f) for f in filters)]


def _no_match(filters: Sequence[str], tasks: Sequence[SuiteTask], suite: str) -> UsageError:
    """The error for filters that select nothing: an empty run would only look like success."""
    globs = " ".join(f"--filter {f!r}" for f in filters)
    where = f" of {suite}" if suite else ""
    examples = ", ".join(t.id for t in tasks[:3])
    return UsageError(
        f"{globs} matched none of the {len(tasks)} task ids{where}",
        hint=f"ids look like {examples}; globs match the whole id (quote them for the shell)",
    )


def run_suite(
    suite: Path | ParsedSuite,
    settings: EvalSettings,
    *,
    workers: int = 1,
    out: Path | None = None,
    resume: bool = False,
    retry_errors: bool = False,
    filters: Sequence[str] = (),
    on_problem: Callable[[SuiteProblem], None] | None = None,
    on_start: Callable[[SuiteTask], None] | None = None,
    on_result: Callable[[TaskResult], None] | None = None,
) -> SuiteRun:
    """Evaluate the tasks of ``suite`` and return their results and summary.

    Each result is appended to ``out`` as soon as its task ends. With ``resume``, tasks that
    already have a line in ``out`` are skipped (``retry_errors`` runs those labelled ``infra``,
    ``crash`` or ``loop_error`` again). An interrupt propagates after the running workers are
    stopped; every line written so far is complete. Call it from a script's
    ``if __name__ == "__main__":`` block (workers come from a ``multiprocessing`` forkserver).
    Filters that match no task raise :class:`~patchloop.errors.UsageError` before anything runs.
    """
    parsed = load_suite(suite) if isinstance(suite, Path) else suite
    name = str(suite) if isinstance(suite, Path) else ""
    for problem in parsed.problems:
        if on_problem is not None:
            on_problem(problem)
    if not parsed.tasks:
        where = f" {name}" if name else ""
        raise UsageError(
            f"the suite{where} has no valid task ({len(parsed.problems)} line(s) skipped)",
            hint="fix the lines reported above (the suite format is in the README, Evaluation)",
        )
    selected = select_tasks(parsed.tasks, filters)
    if filters and not selected:
        raise _no_match(filters, parsed.tasks, name)
    done: dict[str, TaskResult] = {}
    results_file = ResultsFile(out, resume=resume) if out is not None else None
    if results_file is not None:
        wanted = {t.id for t in selected}
        done = {
            k: v
            for k, v in results_file.existing.items()
            if k in wanted and not (retry_errors and v.error in RETRYABLE)
        }
    todo = [t for t in selected if t.id not in done]

    tasks = {t.id: t for t in selected}

    def record(result: TaskResult) -> None:
        reference = parsed.references.get(result.id)
        if result.resolved and reference is not None:
            same = matches_reference(tasks[result.id], result.diff, reference)
            result = result.model_copy(update={"matches_reference": same})
        if results_file is not None:
            results_file.append(result)
        done[result.id] = result
        if on_result is not None:
            on_result(result)

    if todo:
        if results_file is not None:
            with results_file:
                run_pool(todo, settings, workers=workers, on_result=record, on_start=on_start)
        else:
            run_pool(todo, settings, workers=workers, on_result=record, on_start=on_start)
    results = [done[t.id] for t in selected if t.id in done]
    return SuiteRun(
        summary=summarize(results, tasks=len(selected), problems=parsed.problems, suite=name),
        results=results,
        ran=len(todo),
        problems=list(parsed.problems),
    )
