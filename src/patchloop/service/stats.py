"""The read side of the job store that metrics and SLOs are computed from.

Every number comes from the durable store, not from counters in one process, so the API's
metrics cover every worker and survive restarts. :class:`SqliteStats` is the embedded
implementation of :class:`Stats`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from patchloop.service._db import connect

__all__ = ["CountRow", "Duration", "Histogram", "SloRow", "SqliteStats", "Stats"]

Duration = Literal["verdict", "verified", "wait"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CountRow(_Frozen):
    """Jobs and their totals for one combination of labels."""

    kind: str
    status: str
    verdict: str
    tier: str
    jobs: int
    retries: int
    infra: int
    sandbox_s: float
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int


class Histogram(_Frozen):
    """Cumulative counts per upper bound, plus count and sum."""

    buckets: tuple[tuple[float, int], ...]
    count: int
    total: float


class SloRow(_Frozen):
    """One finished job inside an SLO window."""

    kind: str
    status: str
    verdict: str
    infra: bool
    time_to_verdict_s: float


class Stats(Protocol):
    """What ``/metrics`` and ``/v1/slo`` read."""

    def counts(self) -> list[CountRow]:
        """Jobs grouped by kind, status, verdict and winning tier."""
        ...

    def durations(self, kind: str, what: Duration, bounds: Sequence[float]) -> Histogram:
        """Queue wait, time to verdict, or time to a verified fix, of ``kind`` jobs."""
        ...

    def model_latency(self, bounds: Sequence[float]) -> dict[str, tuple[Histogram, int]]:
        """Per backend: latency of model calls and how many failed."""
        ...

    def window(self, since: float) -> list[SloRow]:
        """Jobs finished at or after ``since`` (Unix time)."""
        ...


_DURATION_SQL = {
    "wait": (
        "first_started_at - created_at",
        "first_started_at IS NOT NULL",
    ),
    "verdict": (
        "finished_at - created_at",
        "finished_at IS NOT NULL AND status = 'succeeded'",
    ),
    "verified": (
        "finished_at - created_at",
        "finished_at IS NOT NULL AND verdict = 'verified'",
    ),
}


def _histogram(
    conn: sqlite3.Connection, expr: str, where: str, args: Sequence[object], bounds: Sequence[float]
) -> Histogram:
    sums = ", ".join(f"COALESCE(SUM(({expr}) <= {float(b)!r}), 0)" for b in bounds)
    row = conn.execute(
        f"SELECT {sums}{', ' if sums else ''}COUNT(*), COALESCE(SUM({expr}), 0) FROM {where}",
        tuple(args),
    ).fetchone()
    values = list(row)
    return Histogram(
        buckets=tuple(zip(bounds, (int(v) for v in values[: len(bounds)]), strict=True)),
        count=int(values[-2]),
        total=float(values[-1]),
    )


class SqliteStats:
    """:class:`Stats` over the service database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, migrate=False)
            self._local.conn = conn
        return conn

    def counts(self) -> list[CountRow]:
        rows = self.conn.execute(
            "SELECT kind, status, COALESCE(verdict, 'none'), COALESCE(tier, 'none'), COUNT(*), "
            "SUM(retries), SUM(infra), SUM(sandbox_s), SUM(prompt_tokens), "
            "SUM(completion_tokens), SUM(cached_tokens) FROM jobs GROUP BY 1, 2, 3, 4"
        ).fetchall()
        return [
            CountRow(
                kind=r[0],
                status=r[1],
                verdict=r[2],
                tier=r[3],
                jobs=r[4],
                retries=r[5],
                infra=r[6],
                sandbox_s=r[7],
                prompt_tokens=r[8],
                completion_tokens=r[9],
                cached_tokens=r[10],
            )
            for r in rows
        ]

    def durations(self, kind: str, what: Duration, bounds: Sequence[float]) -> Histogram:
        expr, cond = _DURATION_SQL[what]
        return _histogram(self.conn, expr, f"jobs WHERE kind = ? AND {cond}", (kind,), bounds)

    def model_latency(self, bounds: Sequence[float]) -> dict[str, tuple[Histogram, int]]:
        backends = [r[0] for r in self.conn.execute("SELECT DISTINCT backend FROM model_calls")]
        found = {}
        for backend in backends:
            hist = _histogram(
                self.conn, "latency_s", "model_calls WHERE backend = ?", (backend,), bounds
            )
            errors = self.conn.execute(
                "SELECT COALESCE(SUM(error), 0) FROM model_calls WHERE backend = ?", (backend,)
            ).fetchone()[0]
            found[backend] = (hist, int(errors))
        return found

    def window(self, since: float) -> list[SloRow]:
        rows = self.conn.execute(
            "SELECT kind, status, COALESCE(verdict, ''), infra, finished_at - created_at "
            "FROM jobs WHERE finished_at IS NOT NULL AND finished_at >= ?",
            (since,),
        ).fetchall()
        return [
            SloRow(kind=r[0], status=r[1], verdict=r[2], infra=bool(r[3]), time_to_verdict_s=r[4])
            for r in rows
        ]
