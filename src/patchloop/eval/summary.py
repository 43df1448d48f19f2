"""The summary of an evaluation: resolved rate, tiers, times, tokens, well-formed output.

:func:`summarize` is pure; :func:`render_summary` draws the same numbers as a table.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.table import Table

from patchloop.domain import Usage
from patchloop.eval.results import TaskResult
from patchloop.eval.suite import SuiteProblem

__all__ = ["Distribution", "Summary", "WellFormedRate", "render_summary", "summarize"]


class Distribution(BaseModel):
    """Median and 90th percentile (nearest rank) of some seconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n: int = 0
    median: float | None = None
    p90: float | None = None

    @classmethod
    def of(cls, values: Sequence[float]) -> Distribution:
        """The distribution of ``values`` (``None`` statistics when empty)."""
        if not values:
            return cls()
        ordered = sorted(values)
        rank = max(1, math.ceil(0.9 * len(ordered)))
        return cls(
            n=len(ordered),
            median=round(statistics.median(ordered), 3),
            p90=round(ordered[rank - 1], 3),
        )


class WellFormedRate(BaseModel):
    """Replies of one model in one edit format that parsed under the contract."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    format: str
    well_formed: int
    total: int
    rate: float | None


class Summary(BaseModel):
    """Numbers over every task of an evaluation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    suite: str = ""
    tasks: int
    """Usable tasks selected (skipped lines not included)."""
    evaluated: int
    """Tasks with a result (including those resumed from an earlier run)."""
    resolved: int
    resolved_rate: float
    """Resolved over selected tasks."""
    graded: int
    """Evaluated tasks without an infrastructure error."""
    resolved_rate_graded: float | None
    resolved_matching_reference: int = 0
    """Resolved tasks whose patched code is the reference fix's (the rest are plausible: the
    tests pass, the code differs)."""
    resolved_by_tier: dict[str, int] = Field(default_factory=dict)
    resolved_by_category: dict[str, list[int]] = Field(default_factory=dict)
    """Category to ``[resolved, tasks]``."""
    time_to_fix_s: Distribution = Distribution()
    """Loop wall time of resolved tasks."""
    time_to_fix_by_tier_s: dict[str, Distribution] = Field(default_factory=dict)
    wall_s: Distribution = Distribution()
    """Whole-task wall time (set-up, repair and judging) of every evaluated task."""
    candidates: int = 0
    iterations: int = 0
    tokens: Usage = Usage()
    sandbox_s: float = 0.0
    harness_s: float = 0.0
    errors: dict[str, int] = Field(default_factory=dict)
    well_formed: list[WellFormedRate] = Field(default_factory=list)
    verified_but_unresolved: int = 0
    """Fixes the loop verified that the harness's own run rejects; must be zero."""
    unverified_but_passing: int = 0
    """Final diffs the loop did not verify that pass the harness's run anyway (not resolved)."""
    skipped_lines: list[SuiteProblem] = Field(default_factory=list)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def summarize(
    results: Sequence[TaskResult],
    *,
    tasks: int,
    problems: Sequence[SuiteProblem] = (),
    suite: str = "",
) -> Summary:
    """Aggregate ``results`` (one per task) of a suite with ``tasks`` selected tasks."""
    resolved = [r for r in results if r.resolved]
    graded = [r for r in results if r.error != "infra"]
    by_tier = Counter(r.fixed_by or "?" for r in resolved)
    categories: dict[str, list[int]] = {}
    for r in results:
        counts = categories.setdefault(r.category or "-", [0, 0])
        counts[0] += int(r.resolved)
        counts[1] += 1
    tier_times: dict[str, list[float]] = {}
    for r in resolved:
        if r.time_to_fix_s is not None:
            tier_times.setdefault(r.fixed_by or "?", []).append(r.time_to_fix_s)
    formed: dict[tuple[str, str], list[int]] = {}
    for r in results:
        for w in r.well_formed:
            counts = formed.setdefault((w.model, w.format), [0, 0])
            counts[0] += w.well_formed
            counts[1] += w.total
    usage = Usage()
    for r in results:
        usage = usage + r.tokens
    return Summary(
        suite=suite,
        tasks=tasks,
        evaluated=len(results),
        resolved=len(resolved),
        resolved_rate=_rate(len(resolved), tasks) or 0.0,
        graded=len(graded),
        resolved_rate_graded=_rate(len(resolved), len(graded)),
        resolved_matching_reference=sum(1 for r in resolved if r.matches_reference),
        resolved_by_tier=dict(sorted(by_tier.items())),
        resolved_by_category=dict(sorted(categories.items())),
        time_to_fix_s=Distribution.of([t for ts in tier_times.values() for t in ts]),
        time_to_fix_by_tier_s={k: Distribution.of(v) for k, v in sorted(tier_times.items())},
        wall_s=Distribution.of([r.wall_s for r in results]),
        candidates=sum(r.candidates for r in results),
        iterations=sum(r.iterations for r in results),
        tokens=usage,
        sandbox_s=round(sum(r.sandbox_s for r in results), 3),
        harness_s=round(sum(r.harness_s for r in results), 3),
        errors=dict(sorted(Counter(r.error for r in results if r.error).items())),
        well_formed=[
            WellFormedRate(model=m, format=f, well_formed=ok, total=n, rate=_rate(ok, n))
            for (m, f), (ok, n) in sorted(formed.items())
        ],
        verified_but_unresolved=sum(
            1
            for r in results
            if r.loop_status == "verified" and not r.resolved and r.error != "infra"
        ),
        unverified_but_passing=sum(
            1 for r in results if r.loop_status != "verified" and r.harness_passed
        ),
        skipped_lines=list(problems),
    )


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def render_summary(summary: Summary, console: Console) -> None:
    """Draw ``summary`` as a table on ``console``."""
    table = Table(title=f"patchloop eval {summary.suite}".rstrip(), show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("resolved", f"{summary.resolved}/{summary.tasks} ({_pct(summary.resolved_rate)})")
    table.add_row("  same code as the reference fix", str(summary.resolved_matching_reference))
    table.add_row("evaluated", f"{summary.evaluated} ({summary.graded} graded)")
    for tier, count in summary.resolved_by_tier.items():
        dist = summary.time_to_fix_by_tier_s.get(tier, Distribution())
        table.add_row(
            f"  by {tier}", f"{count}  (median {_secs(dist.median)}, p90 {_secs(dist.p90)})"
        )
    ttf = summary.time_to_fix_s
    table.add_row("time to verified fix", f"median {_secs(ttf.median)}, p90 {_secs(ttf.p90)}")
    table.add_row("task wall time", f"median {_secs(summary.wall_s.median)}")
    table.add_row("candidates / model calls", f"{summary.candidates} / {summary.iterations}")
    tokens = summary.tokens
    table.add_row(
        "tokens (prompt/completion/cached)",
        f"{tokens.prompt_tokens:,} / {tokens.completion_tokens:,} / {tokens.cached_tokens:,}",
    )
    table.add_row("sandbox / harness", f"{summary.sandbox_s:.1f}s / {summary.harness_s:.1f}s")
    for w in summary.well_formed:
        table.add_row(
            f"well-formed {w.model} [{w.format}]", f"{w.well_formed}/{w.total} ({_pct(w.rate)})"
        )
    for label, count in summary.errors.items():
        table.add_row(f"error: {label}", str(count))
    style = "bold red" if summary.verified_but_unresolved else "green"
    table.add_row(
        "loop verified, harness unresolved",
        f"[{style}]{summary.verified_but_unresolved}[/{style}]",
    )
    if summary.unverified_but_passing:
        table.add_row("unverified, harness passes", str(summary.unverified_but_passing))
    if summary.skipped_lines:
        table.add_row("skipped suite lines", str(len(summary.skipped_lines)))
    console.print(table)
