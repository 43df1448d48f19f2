"""Verification staging of one run: a candidate is dry-run and guarded, then its tests run in
stages (the targets, then the tests that passed at baseline), a stage answered from the result
cache where the patch cannot change its outcome."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from patchloop.domain import Patch, TestReport, TestSelection
from patchloop.edits.apply import write_patch
from patchloop.edits.behaviour import check_behaviour
from patchloop.edits.names import check_names
from patchloop.edits.syntax import check_syntax
from patchloop.errors import EditError, InfrastructureError
from patchloop.tiers import Proposal
from patchloop.verify.feedback import render_failures
from patchloop.verify.green import is_green
from patchloop.verify.guard import check_patch
from patchloop.verify.nodeids import reads_docstrings
from patchloop.verify.plan import Stage, VerificationPlan

if TYPE_CHECKING:
    from patchloop.session import RunSession

__all__ = ["Staging", "Verdict", "failure_text", "process_summary"]


@dataclass
class Verdict:
    """What verification of one patch found."""

    green: bool
    failing: tuple[str, ...]
    feedback: str
    reports: list[TestReport] = field(default_factory=list)
    sandbox_s: float = 0.0


class Staging:
    """Checks and verifies the candidates of one run.

    A :class:`~patchloop.session.RunSession` composes it; the snapshot, sandbox, baseline,
    targets and budget it reads are the session's.
    """

    def __init__(self, run: RunSession) -> None:
        self.run = run
        self._plan: VerificationPlan | None = None
        #: Guards the result cache and the run's accounting when candidates verify at once.
        self._lock = threading.Lock()

    @property
    def plan(self) -> VerificationPlan:
        """What each candidate must run; built on first use, after coverage was recorded."""
        run = self.run
        if self._plan is None:
            assert run.baseline_report is not None, "baseline() first"
            tests = run.config.tests
            coverage = run.coverage if run.coverage is not None and run.coverage.complete else None
            self._plan = VerificationPlan(
                run.snapshot.template,
                targets=run.targets,
                regressions=run.regressions,
                flakes=run.flakes,
                coverage=coverage.lines if coverage is not None else None,
                namespace=f"{sys.executable}\0{' '.join(run.task.test_cmd)}",
                full_suite=tests.full_suite,
                files=run.snapshot.files,
            )
            self._plan.seed(run.baseline_report)
        return self._plan

    def check(self, proposal: Proposal) -> Patch:
        """Dry-run the proposal against the snapshot and apply the tamper guard."""
        run = self.run
        t0 = time.monotonic()
        try:
            patch = proposal.patch
            if patch is None:
                patch = run.format.apply(run.snapshot.template, proposal.edits, dry_run=True)
                proposal.patch = patch
            if patch.empty:
                raise EditError(
                    "the edits change nothing",
                    feedback="The edits leave every file as it was; change the code under test.",
                )
            check_patch(patch, allow_test_edits=run.task.allow_test_edits)
            check_syntax(patch)
            check_names(patch)
            check_behaviour(patch, docstrings=reads_docstrings(run.targets))
            return patch
        finally:
            proposal.timings["apply"] = time.monotonic() - t0

    def verify_many(
        self,
        patches: Sequence[Patch],
        *,
        fail_fast: bool,
        want_feedback: bool,
        deadline: float | None = None,
    ) -> list[Verdict]:
        """:meth:`verify` each of ``patches`` at the same time, each in its own copy of the
        snapshot and its own lane of warm interpreters; verdicts in the order of ``patches``."""
        if len(patches) <= 1:
            return [
                self.verify(p, fail_fast=fail_fast, want_feedback=want_feedback, deadline=deadline)
                for p in patches
            ]
        self.plan  # noqa: B018 - built once, before the threads share it
        with ThreadPoolExecutor(max_workers=len(patches), thread_name_prefix="verify") as pool:
            futures = [
                pool.submit(
                    self.verify,
                    patch,
                    fail_fast=fail_fast,
                    want_feedback=want_feedback,
                    deadline=deadline,
                    lane=lane,
                )
                for lane, patch in enumerate(patches)
            ]
            return [f.result() for f in futures]

    def verify(
        self,
        patch: Patch,
        *,
        fail_fast: bool,
        want_feedback: bool,
        deadline: float | None = None,
        lane: int = 0,
    ) -> Verdict:
        """Failing tests first; when they pass, the tests that passed at baseline.

        ``deadline`` (a ``time.monotonic()`` value) bounds the test runs, e.g. a tier's end;
        ``lane`` picks the warm interpreters (see :meth:`verify_many`).
        """
        run = self.run
        t0 = time.monotonic()
        budget = run.config.tests
        base = run.baseline_report.duration_s if run.baseline_report else budget.timeout
        # A candidate may loop forever; give it a few times the baseline, not the full timeout.
        wall = min(budget.timeout, 10.0 + 5.0 * base)
        if deadline is not None:
            wall = max(1.0, min(wall, deadline - t0))
        runner = run.runner(wall_s=wall, per_test_timeout=budget.per_test_timeout, lane=lane)
        verdict = Verdict(green=False, failing=(), feedback="")
        plan = self.plan
        tree = plan.tree_for(patch)
        before = run.baseline_report.by_id() if run.baseline_report else {}
        with ExitStack() as stack:
            workspace: Path | None = None
            stages = [run.targets]
            if budget.regressions and run.regressions:
                stages.append(run.regressions)
            for nodeids in stages:
                # With feedback wanted the targets run: the feedback must show this very patch.
                fresh = want_feedback and nodeids is run.targets
                with self._lock:
                    stage = Stage(run=nodeids) if fresh else plan.stage(nodeids, tree)
                report: TestReport | None = None
                if stage.run:
                    if workspace is None:
                        workspace = stack.enter_context(
                            run.sandbox.workspace(run.snapshot.template)
                        )
                        write_patch(workspace, patch)
                    selection = TestSelection(nodeids=stage.run, fail_fast=fail_fast)
                    report = runner.run(workspace, selection)
                    verdict.reports.append(report)
                    if report.process is not None and report.process.error:
                        raise InfrastructureError(
                            "the test command could not start: " + report.process.error
                        )
                    with self._lock:
                        plan.record(report, tree)
                outcomes = stage.outcomes(report)
                failing = tuple(n for n in nodeids if not is_green(n, outcomes, baseline=before))
                if failing:
                    verdict.failing = failing
                    if want_feedback:
                        shown = report or TestReport(outcomes=tuple(outcomes.values()))
                        root = workspace or run.snapshot.template
                        verdict.feedback = failure_text(shown, failing, root)
                    break
            else:
                verdict.green = True
        verdict.sandbox_s = time.monotonic() - t0
        with self._lock:
            run.sandbox_s += verdict.sandbox_s
            run.spend("verify", verdict.sandbox_s)
        return verdict

    def save_cache(self, path: Path) -> None:
        """Write the test result cache to ``path``, when a candidate was verified."""
        if self._plan is not None:
            self._plan.cache.save(path)


def failure_text(report: TestReport, failing: tuple[str, ...], root: Path) -> str:
    """What the model is shown of the ``failing`` tests of ``report``."""
    if report.status == "no_report":
        return "The test run crashed before writing a report.\n" + process_summary(report)
    return render_failures(report, failing, root=root)


def process_summary(report: TestReport) -> str:
    """How the test process ended, for a report without outcomes."""
    process = report.process
    if process is None:
        return "(no process information)"
    if process.error:
        return process.error
    tail = (process.stderr.strip() or process.stdout.strip())[-1500:]
    return f"exit status {process.exit_code}; output ends with:\n{tail}"
