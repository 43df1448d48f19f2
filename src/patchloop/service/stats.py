"""The read side of the job store that metrics and SLOs are computed from.

Every number comes from the durable store, not from counters in one process, so the API's
metrics cover every worker and survive restarts. :class:`SqlStats` implements :class:`Stats`
in SQL that SQLite and PostgreSQL both run; :class:`SqliteStats` is the embedded one.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from patchloop.service._db import connect

__all__ = ["CountRow", "Duration", "Histogram", "SloRow", "SqlStats", "SqliteStats", "Stats"]

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

    def pruned_events(self) -> int:
        """Events deleted by retention, ever (each pruned job keeps its count)."""
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


#: Runs one statement (``?`` placeholders) and returns its rows.
Query = Callable[[str, tuple[Any, ...]], Sequence[Sequence[Any]]]


class SqlStats:
    """:class:`Stats` over the job tables, through ``query``."""

    def __init__(self, query: Query) -> None:
        self.query = query

    def _histogram(
        self, expr: str, where: str, args: tuple[Any, ...], bounds: Sequence[float]
    ) -> Histogram:
        sums = ", ".join(
            f"COALESCE(SUM(CASE WHEN ({expr}) <= {float(b)!r} THEN 1 ELSE 0 END), 0)"
            for b in bounds
        )
        rows = self.query(
            f"SELECT {sums}{', ' if sums else ''}COUNT(*), COALESCE(SUM({expr}), 0) FROM {where}",
            args,
        )
        values = list(rows[0])
        return Histogram(
            buckets=tuple(zip(bounds, (int(v) for v in values[: len(bounds)]), strict=True)),
            count=int(values[-2]),
            total=float(values[-1]),
        )

    def counts(self) -> list[CountRow]:
        rows = self.query(
            "SELECT kind, status, COALESCE(verdict, 'none'), COALESCE(tier, 'none'), COUNT(*), "
            "SUM(retries), SUM(infra), SUM(sandbox_s), SUM(prompt_tokens), "
            "SUM(completion_tokens), SUM(cached_tokens) FROM jobs GROUP BY 1, 2, 3, 4",
            (),
        )
        return [
            CountRow(
                kind=r[0],
                status=r[1],
                verdict=r[2],
                tier=r[3],
                jobs=int(r[4]),
                retries=int(r[5]),
                infra=int(r[6]),
                sandbox_s=float(r[7]),
                prompt_tokens=int(r[8]),
                completion_tokens=int(r[9]),
                cached_tokens=int(r[10]),
            )
            for r in rows
        ]

    def durations(self, kind: str, what: Duration, bounds: Sequence[float]) -> Histogram:
        expr, cond = _DURATION_SQL[what]
        return self._histogram(expr, f"jobs WHERE kind = ? AND {cond}", (kind,), bounds)

    def model_latency(self, bounds: Sequence[float]) -> dict[str, tuple[Histogram, int]]:
        backends = [r[0] for r in self.query("SELECT DISTINCT backend FROM model_calls", ())]
        found = {}
        for backend in backends:
            hist = self._histogram("latency_s", "model_calls WHERE backend = ?", (backend,), bounds)
            errors = self.query(
                "SELECT COALESCE(SUM(error), 0) FROM model_calls WHERE backend = ?", (backend,)
            )[0][0]
            found[backend] = (hist, int(errors))
        return found

    def window(self, since: float) -> list[SloRow]:
        rows = self.query(
            "SELECT kind, status, COALESCE(verdict, ''), infra, finished_at - created_at "
            "FROM jobs WHERE finished_at IS NOT NULL AND finished_at >= ?",
            (since,),
        )
        return [
            SloRow(kind=r[0], status=r[1], verdict=r[2], infra=bool(r[3]), time_to_verdict_s=r[4])
            for r in rows
        ]

    def pruned_events(self) -> int:
        return int(self.query("SELECT COALESCE(SUM(events_pruned), 0) FROM jobs", ())[0][0])


class SqliteStats(SqlStats):
    """:class:`Stats` over the service's SQLite database."""

    def __init__(self, path: Path) -> None:
        super().__init__(self._query)
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

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
        return self.conn.execute(sql, args).fetchall()
