"""Verification-first service-level objectives over a window of finished jobs.

Each objective is a share of good events with a target; its error budget is the share of bad
events the target allows, and ``budget_remaining`` says how much of it is left (1: untouched,
0: spent, below 0: the objective is missed).

- ``time_to_verdict``: repairs that reached a verdict within ``time_to_verdict_s``, at least
  ``time_to_verdict_share`` of them (the p90 objective by default).
- ``verified_share``: repairs that ended verified, among those verified or not fixed.
- ``infra_failure_share``: jobs that failed for reasons of the service or sandbox, at most.
"""

from __future__ import annotations

import math
import time

from pydantic import BaseModel, ConfigDict

from patchloop.service.settings import SloSettings
from patchloop.service.stats import SloRow, Stats

__all__ = ["ObjectiveReport", "SloReport", "slo_report"]


class ObjectiveReport(BaseModel):
    """One objective: target, current value, and error budget."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    target: float
    """The share of good events the objective asks for."""
    current: float | None
    """The share of good events in the window (``None``: no events yet)."""
    events: int
    bad: int
    met: bool
    budget_remaining: float
    value: float | None = None
    """The objective's own measure, where it has one (the p90 time to verdict, in seconds)."""


class SloReport(BaseModel):
    """``GET /v1/slo``."""

    model_config = ConfigDict(frozen=True)

    window_s: float
    objectives: list[ObjectiveReport]


def _objective(
    name: str,
    description: str,
    *,
    target: float,
    events: int,
    bad: int,
    value: float | None = None,
) -> ObjectiveReport:
    if events == 0:
        return ObjectiveReport(
            name=name,
            description=description,
            target=target,
            current=None,
            events=0,
            bad=0,
            met=True,
            budget_remaining=1.0,
            value=value,
        )
    good_share = (events - bad) / events
    allowed = 1.0 - target
    remaining = 1.0 - ((bad / events) / allowed) if allowed > 0 else (1.0 if bad == 0 else -1.0)
    return ObjectiveReport(
        name=name,
        description=description,
        target=target,
        current=round(good_share, 6),
        events=events,
        bad=bad,
        met=good_share >= target,
        budget_remaining=round(remaining, 6),
        value=value,
    )


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))], 4)


def _objectives(rows: list[SloRow], slo: SloSettings) -> list[ObjectiveReport]:
    repairs = [r for r in rows if r.kind == "repair" and r.status == "succeeded"]
    times = [r.time_to_verdict_s for r in repairs]
    slow = sum(1 for t in times if t > slo.time_to_verdict_s)
    graded = [r for r in repairs if r.verdict in ("verified", "not_fixed")]
    unverified = sum(1 for r in graded if r.verdict != "verified")
    finished = [r for r in rows if r.status != "cancelled"]
    infra = sum(1 for r in finished if r.infra)
    share = slo.time_to_verdict_share
    return [
        _objective(
            "time_to_verdict",
            f"{share:.0%} of repairs reach a verdict within {slo.time_to_verdict_s:g}s",
            target=share,
            events=len(times),
            bad=slow,
            value=_quantile(times, share),
        ),
        _objective(
            "verified_share",
            f"at least {slo.verified_share:.0%} of graded repairs end verified",
            target=slo.verified_share,
            events=len(graded),
            bad=unverified,
        ),
        _objective(
            "infra_failure_share",
            f"at most {slo.infra_failure_share:.0%} of jobs fail for infrastructure reasons",
            target=1.0 - slo.infra_failure_share,
            events=len(finished),
            bad=infra,
        ),
    ]


def slo_report(stats: Stats, slo: SloSettings, now: float | None = None) -> SloReport:
    """Every objective over the last ``slo.window_s`` seconds."""
    since = (now if now is not None else time.time()) - slo.window_s
    return SloReport(window_s=slo.window_s, objectives=_objectives(stats.window(since), slo))
