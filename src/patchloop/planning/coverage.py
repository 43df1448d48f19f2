"""Per-test coverage of the snapshot, for spectrum-based localization."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from patchloop.errors import InfrastructureError, PatchloopError
from patchloop.session import RunSession

if TYPE_CHECKING:
    from patchloop.localize import CoverageMap

__all__ = ["spectrum"]


def spectrum(run: RunSession) -> CoverageMap | None:
    """Per-test coverage of the snapshot, for spectrum-based localization; ``None`` if the
    suite is too slow to run twice or coverage cannot be recorded.

    A prepared state (:attr:`RunSession.template`) that knows the answer gives it without a
    run; otherwise the run's answer is added to it.
    """
    from patchloop.localize import collect_coverage

    report = run.baseline_report
    assert report is not None
    if report.duration_s > run.config.context.coverage_max_s:
        run.emit("localize.note", "suite too slow for a coverage run; no SBFL")
        return None
    template = run.template
    if template is not None and template.entry is not None and template.entry.has_coverage:
        if template.entry.no_coverage is not None:
            run.emit("localize.note", f"no coverage: {template.entry.no_coverage}")
        return template.entry.coverage
    t0 = time.monotonic()
    runner_limits = run.limits(wall_s=run.config.tests.timeout)
    try:
        with run.sandbox.workspace(run.snapshot.template) as workspace:
            found = collect_coverage(
                run.sandbox,
                workspace,
                run.task.test_cmd,
                limits=runner_limits,
                python=sys.executable,
                test_timeout=run.config.tests.per_test_timeout,
            )
    except PatchloopError as exc:
        run.emit("localize.note", f"no coverage: {exc.message}")
        # The suite's answer, not the harness's, and not a wall clock's (the load's).
        ended = time.monotonic() - t0 < 0.9 * runner_limits.wall_s
        if template is not None and isinstance(exc, InfrastructureError) and ended:
            template.keep_coverage(None, exc.message)
        return None
    finally:
        elapsed = time.monotonic() - t0
        run.sandbox_s += elapsed
        run.spend("coverage", elapsed)
    if template is not None:
        template.keep_coverage(found, None)
    return found
