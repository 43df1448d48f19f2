"""State of one repair run: snapshot, sandbox, budget, events, and the baseline policy.

The loop in :mod:`patchloop.loop` reads as the algorithm; :class:`RunSession` holds the
bookkeeping it delegates to, composing verification staging (:mod:`patchloop.staging`) and the
run's record (:mod:`patchloop.recording`).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from patchloop.config import Config
from patchloop.domain import (
    AttemptStatus,
    Event,
    FeedbackKind,
    Limits,
    Plan,
    RunRecord,
    RunStatus,
    Scalar,
    Task,
    TestOutcome,
    TestReport,
)
from patchloop.edits import get_format
from patchloop.edits.auto import AUTO
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
from patchloop.recording import Recorder
from patchloop.repo.snapshot import Snapshot, save_snapshot
from patchloop.sandbox import get_sandbox, limits_from_settings, sandbox_kind
from patchloop.staging import Staging, process_summary
from patchloop.store import RunStore, RunWriter
from patchloop.store.redact import remember_specs, scrub
from patchloop.verify._report import REJECTED
from patchloop.verify.baseline import run_baseline
from patchloop.verify.collection import collection_errors, describe
from patchloop.verify.flaky import FlakeReport
from patchloop.verify.green import is_green
from patchloop.verify.nodeids import check_named_tests
from patchloop.verify.prepared import PreparedState
from patchloop.verify.pytest_runner import PytestRunner

if TYPE_CHECKING:
    from patchloop.localize import CoverageMap

__all__ = ["EventSink", "RunSession", "classify"]

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
        self.staging = Staging(self)
        """Checks and verifies candidates (:mod:`patchloop.staging`)."""
        self.recorder = Recorder(self)
        """Attempts, usage, checkpoints and the run record (:mod:`patchloop.recording`)."""
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
        if self.recorder.usage.total >= self.config.max_tokens:
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

    def runner(self, *, wall_s: float, per_test_timeout: float, lane: int = 0) -> TestRunner:
        """A pytest runner with the run's test command and limits (in ``lane``, see
        :class:`~patchloop.verify.PytestRunner`)."""
        return PytestRunner(
            self.sandbox,
            self.task.test_cmd,
            limits=self.limits(wall_s=wall_s),
            per_test_timeout=per_test_timeout,
            python=sys.executable,
            warm=self.config.tests.warm,
            plugin_autoload=self.config.tests.plugin_autoload,
            plugins=self.config.tests.plugins,
            lane=lane,
        )

    template: PreparedState | None = None
    """This repository state's template (``tests.template_cache``; never in a replay)."""

    @property
    def baseline_reused(self) -> str | None:
        """When the baseline ran (ISO 8601), if this run reused it from a prepared state."""
        template = self.template
        return template.prepared_at if template is not None and template.reused else None

    def baseline(self) -> TestReport:
        """Run the whole suite on the untouched snapshot (or reuse the runs of a prepared
        state with the same key) and fix the targets."""
        report, flakes, runs = self._baseline_runs()
        self.flakes = flakes
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
                "the test command produced no test report: " + process_summary(report),
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
        if self.template is not None and not self.template.reused:
            self.template.keep_baseline(report, flakes, runs)
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
        flaky = set(flakes.flaky)
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

    def _baseline_runs(self) -> tuple[TestReport, FlakeReport, list[TestReport]]:
        """The baseline's report, its flakes and every compared run: reused from a prepared
        state (no run), or run now (k runs; the coverage run is planning.coverage's)."""
        t0 = time.monotonic()
        template = self.template = (
            PreparedState.open(
                self.config, fingerprint=self.snapshot.info.fingerprint, argv=self.task.test_cmd
            )
            if self.replay_of is None
            else None
        )
        prepared = template.lookup() if template is not None else None
        if template is not None and prepared is not None:
            when = template.prepared_at
            self.emit(
                "baseline.cached",
                f"the baseline of this repository state was reused (prepared {when}); no test ran",
                prepared_at=when,
            )
            self.spend("baseline", time.monotonic() - t0)
            return prepared.report, prepared.flakes, []
        self.emit("baseline.start", "running the tests on the untouched snapshot")
        runner = self.runner(
            wall_s=self.config.tests.timeout, per_test_timeout=self.config.tests.per_test_timeout
        )
        base = run_baseline(
            self.sandbox,
            self.snapshot.template,
            runner,
            runs=self.config.tests.flake_runs,
            coverage=False,
        )
        elapsed = time.monotonic() - t0
        self.spend("baseline", elapsed)
        self.sandbox_s += elapsed
        return base.report, base.flakes, base.reports

    def _collection_error(self, outcome: TestOutcome) -> None:
        """Name a file that failed to collect, and say whether the run targets it."""
        message = f"{outcome.nodeid} could not be collected: {describe(outcome)}"
        if outcome.nodeid not in self.targets:
            why = "only the named tests are" if self.task.tests else "other tests fail"
            message += f"; not a target ({why})"
        log.warning("%s", message)
        self.emit("baseline.collect_error", message, path=outcome.nodeid)

    # ------------------------------------------------------------------ record

    def finish(self, status: RunStatus, stop_reason: str, error: str = "") -> RunRecord:
        """Final record, written and returned."""
        record = self.recorder.record(status, stop_reason, error)
        self.writer.checkpoint(record)
        try:
            self.staging.save_cache(self.writer.directory / "test_cache.json")
        except OSError as exc:
            self.emit("record.warning", f"could not save the test result cache: {exc}")
        self.emit("run.end", stop_reason, status=status, attempts=len(self.recorder.attempts))
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
