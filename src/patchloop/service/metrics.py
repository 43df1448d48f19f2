"""``GET /metrics``: Prometheus text format, computed from the job store at scrape time.

Counters and histograms are derived from durable rows, so they are monotonic across restarts
and cover every worker process. The SLO gauges carry what an alert rule needs (objective,
current share, budget left); the histograms let a rule compute its own quantiles.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from patchloop.service.settings import SloSettings
from patchloop.service.slo import slo_report
from patchloop.service.stats import Duration, Histogram, Stats

__all__ = ["CONTENT_TYPE", "render_metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
KINDS = ("repair", "verify", "index")
#: Seconds: from a quick model-free fix to an hour-long model cascade.
JOB_BOUNDS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
WAIT_BOUNDS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)
MODEL_BOUNDS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


def _buckets(hist: Histogram) -> list[tuple[str, float]]:
    return [(repr(float(b)), float(n)) for b, n in hist.buckets] + [("+Inf", float(hist.count))]


class _Collector:
    def __init__(self, stats: Stats, slo: SloSettings) -> None:
        self.stats = stats
        self.slo = slo

    def collect(self) -> Iterator[Metric]:
        yield from self._counts()
        yield from self._durations()
        yield from self._models()
        yield from self._slo()
        yield CounterMetricFamily(
            "patchloop_events_pruned",
            "Events of finished jobs deleted by retention (keep_events_days).",
            value=self.stats.pruned_events(),
        )

    def _counts(self) -> Iterator[Metric]:
        repairs = CounterMetricFamily(
            "patchloop_repairs",
            "Repairs by status, verdict and the tier that fixed them.",
            labels=["status", "verdict", "tier"],
        )
        verifies = CounterMetricFamily(
            "patchloop_verify_requests",
            "Verifications by status and verdict.",
            labels=["status", "verdict"],
        )
        indexes = CounterMetricFamily(
            "patchloop_index_jobs", "Index warm-ups by status.", labels=["status"]
        )
        depth = GaugeMetricFamily(
            "patchloop_queue_depth", "Jobs waiting for a worker.", labels=["kind"]
        )
        running = GaugeMetricFamily("patchloop_jobs_running", "Jobs running.", labels=["kind"])
        retries = CounterMetricFamily(
            "patchloop_job_retries", "Jobs started again after a lost worker.", labels=["kind"]
        )
        infra = CounterMetricFamily(
            "patchloop_infra_failures",
            "Jobs failed for reasons of the service or sandbox.",
            labels=["kind"],
        )
        sandbox = CounterMetricFamily(
            "patchloop_sandbox_seconds",
            "Seconds spent running tests in the sandbox.",
            labels=["kind"],
        )
        tokens = CounterMetricFamily(
            "patchloop_tokens", "Model tokens spent by repairs.", labels=["type"]
        )
        per_kind: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        token_sums = {"prompt": 0, "completion": 0, "cached": 0}
        for row in self.stats.counts():
            if row.kind == "repair":
                repairs.add_metric([row.status, row.verdict, row.tier], row.jobs)
            elif row.kind == "verify":
                verifies.add_metric([row.status, row.verdict], row.jobs)
            else:
                indexes.add_metric([row.status], row.jobs)
            sums = per_kind[row.kind]
            sums["queued"] += row.jobs if row.status == "queued" else 0
            sums["running"] += row.jobs if row.status == "running" else 0
            sums["retries"] += row.retries
            sums["infra"] += row.infra
            sums["sandbox_s"] += row.sandbox_s
            token_sums["prompt"] += row.prompt_tokens
            token_sums["completion"] += row.completion_tokens
            token_sums["cached"] += row.cached_tokens
        for kind in KINDS:
            sums = per_kind[kind]
            depth.add_metric([kind], sums["queued"])
            running.add_metric([kind], sums["running"])
            retries.add_metric([kind], sums["retries"])
            infra.add_metric([kind], sums["infra"])
            sandbox.add_metric([kind], sums["sandbox_s"])
        for kind_name, value in token_sums.items():
            tokens.add_metric([kind_name], value)
        yield from (repairs, verifies, indexes, depth, running, retries, infra, sandbox, tokens)

    def _durations(self) -> Iterator[Metric]:
        specs: tuple[tuple[str, str, Duration, tuple[float, ...], tuple[str, ...]], ...] = (
            ("patchloop_time_to_verdict_seconds", "From acceptance to a verdict.", "verdict",
             JOB_BOUNDS, ("repair", "verify")),
            ("patchloop_time_to_verified_fix_seconds", "From acceptance to a verified fix.",
             "verified", JOB_BOUNDS, ("repair",)),
            ("patchloop_queue_wait_seconds", "From acceptance to the first start.", "wait",
             WAIT_BOUNDS, KINDS),
        )  # fmt: skip
        for name, doc, what, bounds, kinds in specs:
            family = HistogramMetricFamily(name, doc, labels=["kind"])
            for kind in kinds:
                hist = self.stats.durations(kind, what, bounds)
                family.add_metric([kind], _buckets(hist), hist.total)
            yield family

    def _models(self) -> Iterator[Metric]:
        latency = HistogramMetricFamily(
            "patchloop_model_latency_seconds",
            "Model call latency by backend.",
            labels=["backend"],
        )
        errors = CounterMetricFamily(
            "patchloop_model_errors", "Model calls that failed, by backend.", labels=["backend"]
        )
        for backend, (hist, failed) in sorted(self.stats.model_latency(MODEL_BOUNDS).items()):
            latency.add_metric([backend], _buckets(hist), hist.total)
            errors.add_metric([backend], failed)
        yield latency
        yield errors

    def _slo(self) -> Iterator[Metric]:
        report = slo_report(self.stats, self.slo)
        target = GaugeMetricFamily(
            "patchloop_slo_target",
            "Share of good events an objective asks for.",
            labels=["objective"],
        )
        current = GaugeMetricFamily(
            "patchloop_slo_current",
            "Share of good events in the SLO window.",
            labels=["objective"],
        )
        budget = GaugeMetricFamily(
            "patchloop_slo_error_budget_remaining",
            "Error budget left (1 untouched, <0 missed).",
            labels=["objective"],
        )
        for objective in report.objectives:
            target.add_metric([objective.name], objective.target)
            if objective.current is not None:
                current.add_metric([objective.name], objective.current)
            budget.add_metric([objective.name], objective.budget_remaining)
        yield from (target, current, budget)


def render_metrics(stats: Stats, slo: SloSettings) -> bytes:
    """The exposition text of every metric."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(stats, slo))
    return generate_latest(registry)
