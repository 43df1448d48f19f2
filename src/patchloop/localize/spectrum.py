"""Per-test coverage (the program spectrum) recorded by running pytest through the sandbox."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from patchloop.domain import Limits, Outcome, ProcessResult, TestOutcome, TestReport
from patchloop.errors import InfrastructureError, UsageError
from patchloop.localize._spectrum_files import outcome_of, read_lines, read_outcomes
from patchloop.protocols import Sandbox
from patchloop.sandbox import owned_temp_dir

__all__ = ["PLUGIN_MODULE", "CoverageMap", "collect_coverage", "final_outcome"]

#: Module name the plugin is loaded as (``-p``); unlikely to clash with a project's modules.
PLUGIN_MODULE = "patchloop_spectrum_plugin"
_PLUGIN_SOURCE = Path(__file__).with_name("_coverage_plugin.py")


class CoverageMap(BaseModel):
    """Lines each test executed, per repository-relative file, plus the tests' outcomes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lines: dict[str, dict[str, tuple[int, ...]]] = Field(default_factory=dict)
    """Node id -> path -> executed line numbers (sorted)."""
    outcomes: tuple[TestOutcome, ...] = ()
    """Outcome (with traceback frames) of every test that ran."""
    complete: bool = True
    """False when the run ended before the coverage data was written (outcomes may exist)."""
    process: ProcessResult | None = None

    def report(self) -> TestReport:
        """The outcomes as a :class:`~patchloop.domain.TestReport`."""
        status = "ok" if self.complete else "interrupted"
        if self.process is not None and self.process.timed_out:
            status = "timeout"
        return TestReport(outcomes=self.outcomes, process=self.process, status=status)


def final_outcome(phases: Sequence[Mapping[str, Any]]) -> Outcome:
    """One test's outcome from its setup/call/teardown records."""
    by_when = {r.get("when"): r for r in phases}
    for when in ("setup", "teardown"):
        record = by_when.get(when)
        if record and record.get("outcome") == "failed":
            return Outcome.TIMEOUT if record.get("timeout") else Outcome.ERROR
    setup = by_when.get("setup")
    if setup and setup.get("outcome") == "skipped":
        return Outcome.XFAILED if setup.get("xfail") else Outcome.SKIPPED
    call = by_when.get("call")
    if call is None:
        return Outcome.ERROR
    if call.get("xfail"):
        return Outcome.XPASSED if call.get("outcome") == "passed" else Outcome.XFAILED
    if call.get("outcome") == "failed":
        return Outcome.TIMEOUT if call.get("timeout") else Outcome.FAILED
    if call.get("outcome") == "skipped":
        return Outcome.SKIPPED
    return Outcome.PASSED


def _outcomes(path: Path) -> tuple[list[TestOutcome], str | None]:
    phases, error = read_outcomes(path)
    outcomes = [
        outcome_of(nodeid, records, final_outcome([r.model_dump() for r in records]))
        for nodeid, records in phases.items()
    ]
    return outcomes, error


def _argv(cmd: Sequence[str], python: str) -> list[str]:
    argv = list(cmd)
    if not argv:
        raise UsageError("empty test command", hint="give a pytest command, e.g. python -m pytest")
    if argv[0] in ("python", "python3"):
        argv[0] = python
    if not any("pytest" in Path(part).name for part in argv[:3]):
        raise UsageError(
            f"per-test coverage needs a pytest command, got {' '.join(cmd)!r}",
            hint="use 'python -m pytest ...' as the test command",
        )
    return argv


def collect_coverage(
    sandbox: Sandbox,
    workspace: Path,
    cmd: Sequence[str] = ("python", "-m", "pytest"),
    nodeids: Sequence[str] = (),
    *,
    limits: Limits | None = None,
    python: str | None = None,
    env: Mapping[str, str] | None = None,
    test_timeout: float | None = None,
) -> CoverageMap:
    """Run ``cmd`` (a pytest command) on ``nodeids`` in ``workspace`` recording per-test coverage.

    ``python`` replaces a leading ``python`` in ``cmd`` (default: this interpreter); it must have
    ``coverage`` installed. The plugin and its output live in temporary directories outside
    the workspace. Raises :class:`~patchloop.errors.InfrastructureError` when the run produced
    neither coverage nor outcomes.
    """
    argv = _argv(cmd, python or sys.executable)
    plugin_dir = owned_temp_dir("spectrum-plugin")
    data_dir = owned_temp_dir("spectrum-data")
    try:
        shutil.copyfile(_PLUGIN_SOURCE, plugin_dir / f"{PLUGIN_MODULE}.py")
        out = data_dir / "spectrum.json"
        run_env = dict(env or {})
        extra_path = run_env.get("PYTHONPATH")
        run_env.update(
            PYTHONPATH=os.pathsep.join(filter(None, [str(plugin_dir), extra_path])),
            PYTHONDONTWRITEBYTECODE="1",
            PATCHLOOP_SPECTRUM_OUT=str(out),
        )
        # The plugin takes the repository root from its working directory: an isolating
        # sandbox may show the workspace under another path than the host's.
        if test_timeout:
            run_env["PATCHLOOP_SPECTRUM_TEST_TIMEOUT"] = str(test_timeout)
        result = sandbox.run(
            [*argv, "-p", PLUGIN_MODULE, *nodeids],
            workspace,
            limits=limits or Limits(),
            env=run_env,
            readable=[plugin_dir],
            writable=[data_dir],
        )
        outcomes, plugin_error = _outcomes(data_dir / "spectrum.json.outcomes.jsonl")
        lines = read_lines(out)
    finally:
        shutil.rmtree(plugin_dir, ignore_errors=True)
        shutil.rmtree(data_dir, ignore_errors=True)
    if plugin_error is not None:
        raise InfrastructureError(
            plugin_error, hint=f"install it: {python or sys.executable} -m pip install coverage"
        )
    if lines is None and not outcomes:
        tail = (result.stderr or result.stdout or result.error or "")[-2000:]
        raise InfrastructureError(
            f"the coverage run of {' '.join(argv)} produced no data (exit {result.exit_code})",
            hint=f"check that the tests can be collected; output ends with:\n{tail}",
        )
    return CoverageMap(
        lines=lines or {}, outcomes=tuple(outcomes), complete=lines is not None, process=result
    )
