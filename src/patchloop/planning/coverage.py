"""Per-test coverage of the snapshot, for spectrum-based localization."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from patchloop.errors import PatchloopError
from patchloop.session import RunSession

if TYPE_CHECKING:
    from patchloop.localize import CoverageMap

__all__ = ["spectrum"]


def spectrum(run: RunSession) -> CoverageMap | None:
    """Per-test coverage of the snapshot, for spectrum-based localization; ``None`` if the
    suite is too slow to run twice or coverage cannot be recorded."""
    from patchloop.localize import collect_coverage

    report = run.baseline_report
    assert report is not None
    if report.duration_s > run.config.context.coverage_max_s:
        run.emit("localize.note", "suite too slow for a coverage run; no SBFL")
        return None
    t0 = time.monotonic()
    runner_limits = run.limits(wall_s=run.config.tests.timeout)
    try:
        with run.sandbox.workspace(run.snapshot.template) as workspace:
            return collect_coverage(
                run.sandbox,
                workspace,
                run.task.test_cmd,
                limits=runner_limits,
                python=sys.executable,
                test_timeout=run.config.tests.per_test_timeout,
            )
    except PatchloopError as exc:
        run.emit("localize.note", f"no coverage: {exc.message}")
        return None
    finally:
        elapsed = time.monotonic() - t0
        run.sandbox_s += elapsed
        run.spend("coverage", elapsed)
