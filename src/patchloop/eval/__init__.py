"""Evaluation over task suites: run the repair on every task, judge each fix independently.

- :func:`run_suite` reads a suite (the task-suite JSONL format), evaluates each task in its own
  worker process and returns the results and a :class:`Summary`.
- :func:`evaluate_task` is one task: a temporary git repository, the repair loop, then the
  harness's own run of ``fail_to_pass`` + ``pass_to_pass`` on a clean copy with the protected
  files restored (:func:`judge`); :func:`matches_reference` tells plausible fixes from ones
  that are the suite's reference fix.
- :func:`load_suite` / :func:`parse_suite` read suites; bad lines are reported, not fatal.
"""

from __future__ import annotations

from patchloop.eval.judge import Judgement, judge, protected_paths, restore_protected
from patchloop.eval.reference import matches_reference
from patchloop.eval.results import ERROR_LABELS, ResultsFile, TaskResult, WellFormed, read_results
from patchloop.eval.runner import SuiteRun, run_suite, select_tasks
from patchloop.eval.suite import ParsedSuite, SuiteProblem, SuiteTask, load_suite, parse_suite
from patchloop.eval.summary import Distribution, Summary, WellFormedRate, render_summary, summarize
from patchloop.eval.worker import EvalSettings, evaluate_task

__all__ = [
    "ERROR_LABELS",
    "Distribution",
    "EvalSettings",
    "Judgement",
    "ParsedSuite",
    "ResultsFile",
    "SuiteProblem",
    "SuiteRun",
    "SuiteTask",
    "Summary",
    "TaskResult",
    "WellFormed",
    "WellFormedRate",
    "evaluate_task",
    "judge",
    "load_suite",
    "matches_reference",
    "parse_suite",
    "protected_paths",
    "read_results",
    "render_summary",
    "restore_protected",
    "run_suite",
    "select_tasks",
    "summarize",
]
