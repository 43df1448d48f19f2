"""State and services of one repair run: snapshot, sandbox, verification, budget, record.

The loop in :mod:`patchloop.loop` reads as the algorithm; this module holds the bookkeeping it
delegates to.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from patchloop.config import Config
from patchloop.domain import (
    Attempt,
    AttemptStatus,
    Event,
    Feedback,
    FeedbackKind,
    Limits,
    Patch,
    Plan,
    RunRecord,
    RunStatus,
    Scalar,
    Task,
    TestOutcome,
    TestReport,
    TestSelection,
    Usage,
)
from patchloop.edits import get_format
from patchloop.edits.apply import write_patch
from patchloop.edits.auto import AUTO
from patchloop.edits.syntax import check_syntax
from patchloop.errors import (
    ApplyError,
    BudgetExceeded,
    EditError,
    GuardError,
    InfrastructureError,
    InvalidSyntax,
    ModelError,
    NothingToFix,
    OutOfScope,
    ParseError,
    PatchloopError,
    RepeatedEdit,
    UnsafeEdit,
)
from patchloop.protocols import EditFormat, EventSink, Sandbox, TestRunner
from patchloop.repo.snapshot import Snapshot, save_snapshot
from patchloop.sandbox import get_sandbox, limits_from_settings, sandbox_kind
from patchloop.store import RunStore, RunWriter
from patchloop.store.redact import remember_specs, scrub
from patchloop.tiers import Proposal
from patchloop.verify._report import REJECTED
from patchloop.verify.baseline import run_baseline
from patchloop.verify.collection import collection_errors, describe
from patchloop.verify.feedback import render_failures
from patchloop.verify.flaky import FlakeReport
from patchloop.verify.green import is_green
from patchloop.verify.guard import check_patch
from patchloop.verify.nodeids import check_named_tests
from patchloop.verify.plan import Stage, VerificationPlan
from patchloop.verify.pytest_runner import PytestRunner

if TYPE_CHECKING:
    from patchloop.localize import CoverageMap

__all__ = ["EventSink", "RunSession", "Verdict"]

log = logging.getLogger("patchloop.session")

# Which status and feedback kind an error maps to; order matters (subclasses first).
ERROR_KINDS: tuple[tuple[type[PatchloopError], AttemptStatus, FeedbackKind], ...] = (
    (ParseError, "parse_error", "parse"),
    (UnsafeEdit, "unsafe_edit", "unsafe"),
    (GuardError, "guard_rejected", "guard"),
    (OutOfScope, "out_of_scope", "scope"),
    (RepeatedEdit, "repeated", "repeat"),
    (InvalidSyntax, "syntax_error", "syntax"),
    (ApplyError, "apply_error", "apply"),
    (EditError, "empty_patch", "empty"),
    (ModelError, "model_error", "model"),
    (InfrastructureError, "infra_error", "infra"),
)


@dataclass
class Verdict:
    """What verification of one patch found."""

    green: bool
    failing: tuple[str, ...]
    feedback: str
    reports: list[TestReport] = field(default_factory=list)
    sandbox_s: float = 0.0


class RunSession:
    """One run: owns the snapshot, the sandbox, the record and the budget."""

    def __init__(
        self,
        task: Task,
        config: Config,
        snapshot: Snapshot,
        store: RunStore,
        run_id: str,
        *,
        on_event: EventSink | None = None,
        replay_of: str | None = None,
    ) -> None:
        self.task = task
        # Credentials in model URLs never reach the record, the events or the display.
        remember_specs(config.models)
        # Resolve names first: a usage error must leave no run directory behind.
        # ``auto`` chooses a format per model tier; edits of every format apply the same way.
        self.format: EditFormat = get_format(
            "search-replace" if config.edit_format == AUTO else config.edit_format
        )
        # The record keeps the sandbox that actually runs the tests, not ``auto``.
        kind = sandbox_kind(config.sandbox)
        config = config.model_copy(
            update={"sandbox": config.sandbox.model_copy(update={"kind": kind})}
        )
        self.sandbox: Sandbox = get_sandbox(config.sandbox)
        self.config = config
        self.snapshot = snapshot
        self.run_id = run_id
        self.replay_of = replay_of
        self.started = time.monotonic()
        self.deadline = self.started + config.timeout
        self.on_event = on_event
        self.attempts: list[Attempt] = []
        self.usage = Usage()
        self.timings: dict[str, float] = {}
        self.sandbox_s = 0.0
        self.baseline_report: TestReport | None = None
        self.targets: tuple[str, ...] = ()
        self.regressions: tuple[str, ...] = ()
        self.coverage: CoverageMap | None = None
        self.repair_plan: Plan | None = None
        """The tiers the run planned (routed by intent, or recorded for replay)."""
        """Per-test coverage of the snapshot, when it was recorded (localization, selection)."""
        self.flakes: FlakeReport | None = None
        self._plan: VerificationPlan | None = None
        self._last_checkpoint = 0.0
        with ExitStack() as undo:  # a run that cannot start closes what it opened
            undo.callback(self.sandbox.close)
            self.writer: RunWriter = store.create(run_id)
            undo.callback(self.writer.close)
            self.writer.write_json("config.json", config.model_dump(mode="json"))
            save_snapshot(snapshot, self.writer.directory / "snapshot")
            undo.pop_all()

    # ------------------------------------------------------------------ events and time

    def emit(self, kind: str, message: str = "", **data: Scalar) -> None:
        """Record an event and pass it to the progress display."""
        attempt = data.pop("attempt", None)
        tier = data.pop("tier", None)
        event = Event(
            t=round(time.monotonic() - self.started, 4),
            kind=kind,
            message=scrub(message),
            attempt=attempt if isinstance(attempt, int) else None,
            tier=tier if isinstance(tier, str) else None,
            data=data,
        )
        self.writer.event(event)
        if self.on_event is not None:
            self.on_event(event)

    def spend(self, phase: str, seconds: float) -> None:
        """Add ``seconds`` to a phase's total."""
        self.timings[phase] = self.timings.get(phase, 0.0) + seconds

    def stop_reason(self) -> str | None:
        """``time`` or ``tokens`` when the run's global budget is spent."""
        if time.monotonic() >= self.deadline:
            return "time"
        if self.usage.total >= self.config.max_tokens:
            return "tokens"
        return None

    # ------------------------------------------------------------------ tests

    def limits(self, *, wall_s: float) -> Limits:
        """Sandbox limits for one test run, never past the run's deadline."""
        return limits_from_settings(
            self.config.tests,
            self.config.sandbox,
            wall_s=max(1.0, min(wall_s, self.deadline - time.monotonic() + 1.0)),
        )

    def runner(self, *, wall_s: float, per_test_timeout: float) -> TestRunner:
        """A pytest runner with the run's test command and limits."""
        return PytestRunner(
            self.sandbox,
            self.task.test_cmd,
            limits=self.limits(wall_s=wall_s),
            per_test_timeout=per_test_timeout,
            python=sys.executable,
            warm=self.config.tests.warm,
            plugin_autoload=self.config.tests.plugin_autoload,
            plugins=self.config.tests.plugins,
        )

    def baseline(self) -> TestReport:
        """Run the whole suite on the untouched snapshot and fix the targets."""
        self.emit("baseline.start", "running the tests on the untouched snapshot")
        t0 = time.monotonic()
        runner = self.runner(
            wall_s=self.config.tests.timeout, per_test_timeout=self.config.tests.per_test_timeout
        )
        # k runs to find flaky tests; the coverage run is planning.coverage.spectrum's, shared.
        base = run_baseline(
            self.sandbox,
            self.snapshot.template,
            runner,
            runs=self.config.tests.flake_runs,
            coverage=False,
        )
        report = base.report
        self.flakes = base.flakes
        elapsed = time.monotonic() - t0
        self.spend("baseline", elapsed)
        self.sandbox_s += elapsed
        self.baseline_report = report
        self.writer.baseline(report)
        if report.status == "timeout" and not report.outcomes:
            if time.monotonic() >= self.deadline:
                raise BudgetExceeded(
                    f"the run's time budget ({self.config.timeout:g}s) ran out during the baseline",
                    hint="raise --timeout",
                )
            raise InfrastructureError(
                f"the test suite did not finish within {self.config.tests.timeout:g}s",
                hint="raise tests.timeout (PATCHLOOP_TESTS__TIMEOUT), or name the failing tests",
            )
        if report.status == "no_report":
            raise InfrastructureError(
                "the test command produced no test report: " + _process_summary(report),
                hint="check --test-cmd; it must run pytest from the project directory",
            )
        rejected = next((o for o in report.outcomes if o.message.startswith(REJECTED)), None)
        if rejected is not None:
            # No trustworthy outcome on the untouched snapshot: no verdict on any patch.
            raise InfrastructureError(
                "the test report of the untouched snapshot was rejected: "
                + rejected.message.removeprefix(REJECTED),
                hint="run the tests with a pytest patchloop supports (--test-cmd), and keep the "
                "project's code from replacing pytest's reporting",
            )
        failing = set(report.failing)
        broken = collection_errors(report)
        if self.task.tests:
            outcomes = report.by_id()
            check_named_tests(self.task.tests, outcomes)
            self.targets = tuple(t for t in self.task.tests if not is_green(t, outcomes))
        else:
            # A file that fails to collect is no failing test: a target only when nothing
            # else fails.
            others = failing - {o.nodeid for o in broken}
            self.targets = tuple(sorted(others or failing))
        _check_importable(report, self.targets, self.snapshot.template)
        for outcome in broken:
            self._collection_error(outcome)
        self.regressions = tuple(sorted(set(report.passing) - set(self.targets)))
        flaky = set(base.flakes.flaky)
        if flaky:
            # Flaky tests count neither for nor against a patch.
            self.targets = tuple(t for t in self.targets if t not in flaky)
            self.regressions = tuple(t for t in self.regressions if t not in flaky)
            self.emit("baseline.flaky", ", ".join(sorted(flaky)), flaky=len(flaky))
        self.emit(
            "baseline.end",
            f"{len(failing)} failing, {len(report.passing)} passing",
            failing=len(failing),
            passing=len(report.passing),
            targets=len(self.targets),
        )
        if not self.targets:
            if flaky & failing:
                raise NothingToFix(
                    "the only failing tests are flaky (their outcome varied over "
                    f"{self.config.tests.flake_runs} runs): {', '.join(sorted(flaky & failing))}; "
                    "nothing a patch could verify"
                )
            raise NothingToFix(
                "all selected tests pass on the untouched snapshot; nothing to fix"
                if self.task.tests or report.outcomes
                else "no tests were collected; nothing to fix"
            )
        return report

    def _collection_error(self, outcome: TestOutcome) -> None:
        """Name a file that failed to collect, and say whether the run targets it."""
        message = f"{outcome.nodeid} could not be collected: {describe(outcome)}"
        if outcome.nodeid not in self.targets:
            why = "only the named tests are" if self.task.tests else "other tests fail"
            message += f"; not a target ({why})"
        log.warning("%s", message)
        self.emit("baseline.collect_error", message, path=outcome.nodeid)

    @property
    def verification_plan(self) -> VerificationPlan:
        """What each candidate must run; built on first use, after coverage was recorded."""
        if self._plan is None:
            assert self.baseline_report is not None, "baseline() first"
            tests = self.config.tests
            coverage = (
                self.coverage if self.coverage is not None and self.coverage.complete else None
            )
            self._plan = VerificationPlan(
                self.snapshot.template,
                targets=self.targets,
                regressions=self.regressions,
                flakes=self.flakes,
                coverage=coverage.lines if coverage is not None else None,
                namespace=f"{sys.executable}\0{' '.join(self.task.test_cmd)}",
                full_suite=tests.full_suite,
                files=self.snapshot.files,
            )
            self._plan.seed(self.baseline_report)
        return self._plan

    def check(self, proposal: Proposal) -> Patch:
        """Dry-run the proposal against the snapshot and apply the tamper guard."""
        t0 = time.monotonic()
        try:
            patch = proposal.patch
            if patch is None:
                patch = self.format.apply(self.snapshot.template, proposal.edits, dry_run=True)
                proposal.patch = patch
            if patch.empty:
                raise EditError(
                    "the edits change nothing",
                    feedback="The edits leave every file as it was; change the code under test.",
                )
            check_patch(patch, allow_test_edits=self.task.allow_test_edits)
            check_syntax(patch)
            return patch
        finally:
            proposal.timings["apply"] = time.monotonic() - t0

    def verify(
        self,
        patch: Patch,
        *,
        fail_fast: bool,
        want_feedback: bool,
        deadline: float | None = None,
    ) -> Verdict:
        """Failing tests first; when they pass, the tests that passed at baseline.

        ``deadline`` (a ``time.monotonic()`` value) bounds the test runs, e.g. a tier's end.
        """
        t0 = time.monotonic()
        budget = self.config.tests
        base = self.baseline_report.duration_s if self.baseline_report else budget.timeout
        # A candidate may loop forever; give it a few times the baseline, not the full timeout.
        wall = min(budget.timeout, 10.0 + 5.0 * base)
        if deadline is not None:
            wall = max(1.0, min(wall, deadline - t0))
        runner = self.runner(wall_s=wall, per_test_timeout=budget.per_test_timeout)
        verdict = Verdict(green=False, failing=(), feedback="")
        plan = self.verification_plan
        tree = plan.tree_for(patch)
        before = self.baseline_report.by_id() if self.baseline_report else {}
        with ExitStack() as stack:
            workspace: Path | None = None
            stages = [self.targets]
            if budget.regressions and self.regressions:
                stages.append(self.regressions)
            for nodeids in stages:
                # With feedback wanted the targets run: the feedback must show this very patch.
                fresh = want_feedback and nodeids is self.targets
                stage = Stage(run=nodeids) if fresh else plan.stage(nodeids, tree)
                report: TestReport | None = None
                if stage.run:
                    if workspace is None:
                        workspace = stack.enter_context(
                            self.sandbox.workspace(self.snapshot.template)
                        )
                        write_patch(workspace, patch)
                    selection = TestSelection(nodeids=stage.run, fail_fast=fail_fast)
                    report = runner.run(workspace, selection)
                    verdict.reports.append(report)
                    if report.process is not None and report.process.error:
                        raise InfrastructureError(
                            "the test command could not start: " + report.process.error
                        )
                    plan.record(report, tree)
                outcomes = stage.outcomes(report)
                failing = tuple(n for n in nodeids if not is_green(n, outcomes, baseline=before))
                if failing:
                    verdict.failing = failing
                    if want_feedback:
                        shown = report or TestReport(outcomes=tuple(outcomes.values()))
                        root = workspace or self.snapshot.template
                        verdict.feedback = _failure_text(shown, failing, root)
                    break
            else:
                verdict.green = True
        verdict.sandbox_s = time.monotonic() - t0
        self.sandbox_s += verdict.sandbox_s
        self.spend("verify", verdict.sandbox_s)
        return verdict

    # ------------------------------------------------------------------ record

    def record_attempt(
        self,
        proposal: Proposal,
        *,
        iteration: int,
        status: AttemptStatus,
        feedback: Feedback | None,
        verdict: Verdict | None,
        error: str = "",
        votes: int = 1,
        same_as: int | None = None,
        failing: tuple[str, ...] | None = None,
    ) -> Attempt:
        """Turn a finished proposal into an ``Attempt``, store its files, checkpoint.

        A candidate whose patch was verified for another (``same_as``, the other's attempt
        index) carries that verdict's ``failing`` tests without a test run of its own."""
        t0 = time.monotonic()
        completion = proposal.completion
        usage = completion.usage if completion is not None else Usage()
        self.usage = self.usage + usage
        patch = proposal.patch
        attempt = Attempt(
            index=len(self.attempts) + 1,
            tier=proposal.tier,
            iteration=iteration,
            status=status,
            well_formed=proposal.well_formed,
            edits=len(proposal.edits),
            diff=patch.diff if patch is not None else "",
            paths=patch.paths if patch is not None else (),
            failing=len(failing) if failing is not None else None,
            failing_tests=failing or (),
            feedback=feedback,
            usage=usage,
            prompt_chars=sum(len(m.content) for m in proposal.messages),
            prefix_shared_chars=proposal.prefix_shared_chars,
            prefix_shared_tokens=proposal.prefix_shared_tokens,
            timings={k: round(v, 4) for k, v in proposal.timings.items()},
            sandbox_s=round(verdict.sandbox_s, 4) if verdict is not None else 0.0,
            label=proposal.label,
            error=error,
            sample=proposal.sample if proposal.completion is not None else None,
            votes=votes,
            same_as=same_as,
            edit_format=proposal.edit_format,
        )
        for phase, seconds in proposal.timings.items():
            self.spend(phase, seconds)
        self.attempts.append(attempt)
        if completion is not None or proposal.messages:
            self.writer.attempt_files(
                attempt.index,
                messages=proposal.messages,
                completion=completion,
                diff=attempt.diff,
                report=verdict.reports[-1] if verdict and verdict.reports else None,
                feedback=feedback.text if feedback else "",
            )
        self.emit(
            "attempt.end",
            proposal.label or status,
            attempt=attempt.index,
            tier=attempt.tier,
            status=status,
            failing=attempt.failing,
            prompt_tokens=usage.prompt_tokens,
            cached_tokens=usage.cached_tokens,
        )
        now = time.monotonic()
        # Fixer tiers try hundreds of candidates; events keep every one, the record every second.
        if completion is not None or now - self._last_checkpoint >= 1.0:
            self.checkpoint()
            self._last_checkpoint = now
        self.spend("record", time.monotonic() - t0)
        return attempt

    def best_attempt(self) -> Attempt | None:
        """The verified attempt, else the verified-and-failing one with the fewest failures."""
        tried = [a for a in self.attempts if a.failing is not None and a.diff]
        if not tried:
            return None
        return min(tried, key=lambda a: (a.status != "verified", a.failing, len(a.diff), a.index))

    def record(self, status: RunStatus, stop_reason: str, error: str = "") -> RunRecord:
        """The run record as it stands."""
        best = self.best_attempt()
        report = self.baseline_report
        return RunRecord(
            id=self.run_id,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            status=status,
            stop_reason=stop_reason,
            task=self.task,
            config=self.config.model_dump(mode="json"),
            snapshot=self.snapshot.info,
            baseline_failing=report.failing if report else (),
            baseline_passing=report.passing if report else (),
            targets=self.targets,
            attempts=tuple(self.attempts),
            best_attempt=best.index if best else None,
            diff=best.diff if best else "",
            usage=self.usage,
            timings={k: round(v, 4) for k, v in sorted(self.timings.items())},
            sandbox_s=round(self.sandbox_s, 4),
            wall_s=round(time.monotonic() - self.started, 4),
            error=error or None,
            replay_of=self.replay_of,
            plan=self.repair_plan,
            flaky=self.flakes.flaky if self.flakes else (),
        )

    def checkpoint(self) -> None:
        """Rewrite the record on disk, marked as still running."""
        self.writer.checkpoint(self.record("not_fixed", "running"))

    def finish(self, status: RunStatus, stop_reason: str, error: str = "") -> RunRecord:
        """Final record, written and returned."""
        record = self.record(status, stop_reason, error)
        self.writer.checkpoint(record)
        if self._plan is not None:
            try:
                self._plan.cache.save(self.writer.directory / "test_cache.json")
            except OSError as exc:
                self.emit("record.warning", f"could not save the test result cache: {exc}")
        self.emit("run.end", stop_reason, status=status, attempts=len(self.attempts))
        self.writer.close()
        return record

    def close(self) -> None:
        """Release what the run opened: the sandbox's warm interpreters and scratch space."""
        self.sandbox.close()


_NO_MODULE = re.compile(r"No module named '([\w.]+)'")


def _check_importable(report: TestReport, targets: tuple[str, ...], root: Path) -> None:
    """Refuse a suite whose failures are all imports of modules missing from the environment.

    A patch to the code cannot fix a test command that runs from the wrong directory or an
    environment without the project's dependencies.
    """
    outcomes = report.by_id()
    errors = [outcomes[t] for t in targets if t in outcomes]
    if not targets or report.passing or len(errors) != len(targets):
        return
    missing = [m.group(1) for o in errors if (m := _NO_MODULE.search(o.message + o.details))]
    if len(missing) != len(errors):
        return
    raise InfrastructureError(
        f"no test could import its modules (first: No module named {missing[0]!r}); "
        "this is the environment or the test command, not the code",
        hint="check --test-cmd (it runs from the project directory), install the project's "
        "dependencies, or set PYTHONPATH in the test command",
    )


def classify(exc: PatchloopError) -> tuple[AttemptStatus, FeedbackKind]:
    """Attempt status and feedback kind for an error raised during an attempt."""
    for cls, status, kind in ERROR_KINDS:
        if isinstance(exc, cls):
            return status, kind
    return "infra_error", "infra"


def _failure_text(report: TestReport, failing: tuple[str, ...], root: Path) -> str:
    if report.status == "no_report":
        return "The test run crashed before writing a report.\n" + _process_summary(report)
    return render_failures(report, failing, root=root)


def _process_summary(report: TestReport) -> str:
    process = report.process
    if process is None:
        return "(no process information)"
    if process.error:
        return process.error
    tail = (process.stderr.strip() or process.stdout.strip())[-1500:]
    return f"exit status {process.exit_code}; output ends with:\n{tail}"
