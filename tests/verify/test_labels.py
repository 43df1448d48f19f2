"""Run labels keep passed, failed, error, timeout, limits and infrastructure apart."""

from __future__ import annotations

import pytest

from patchloop.domain import Outcome, ProcessResult, TestOutcome, TestReport
from patchloop.verify import RunLabel, label_report


def _report(
    *outcomes: Outcome, status: str = "ok", exit_code: int | None = 0, **process: object
) -> TestReport:
    return TestReport.model_validate(
        {
            "outcomes": [TestOutcome(nodeid=f"t::{i}", outcome=o) for i, o in enumerate(outcomes)],
            "status": status,
            "process": ProcessResult.model_validate(
                {"argv": ("pytest",), "exit_code": exit_code, **process}
            ),
        }
    )


@pytest.mark.parametrize(
    ("report", "label", "limit"),
    [
        (_report(Outcome.PASSED, Outcome.XFAILED, Outcome.SKIPPED), RunLabel.PASSED, None),
        (_report(Outcome.PASSED, Outcome.FAILED, exit_code=1), RunLabel.FAILED, None),
        (_report(Outcome.MISSING, exit_code=4), RunLabel.FAILED, None),
        (_report(Outcome.ERROR, exit_code=1), RunLabel.ERROR, None),
        (_report(status="no_report", exit_code=2), RunLabel.ERROR, None),
        (_report(Outcome.TIMEOUT, exit_code=1), RunLabel.TIMEOUT, None),
        (
            _report(Outcome.TIMEOUT, status="timeout", exit_code=-9, killed_by="wall"),
            RunLabel.TIMEOUT,
            None,
        ),
        (_report(exit_code=-24, killed_by="cpu", status="no_report"), RunLabel.LIMIT, "cpu"),
        (_report(Outcome.FAILED, exit_code=1, killed_by="memory"), RunLabel.LIMIT, "memory"),
        (_report(exit_code=-9, killed_by="output", status="no_report"), RunLabel.LIMIT, "output"),
        (_report(exit_code=-11, killed_by="signal", status="no_report"), RunLabel.ERROR, None),
        (
            _report(status="no_report", exit_code=None, error="command not found: x"),
            RunLabel.INFRA,
            None,
        ),
    ],
)
def test_labels(report: TestReport, label: RunLabel, limit: str | None) -> None:
    verdict = label_report(report)
    assert verdict.label == label
    assert verdict.limit == limit
    assert verdict.retryable == (label == RunLabel.INFRA)


def test_only_the_named_tests_count() -> None:
    report = _report(Outcome.PASSED, Outcome.FAILED, exit_code=1)
    assert label_report(report, ["t::0"]).label == RunLabel.PASSED
