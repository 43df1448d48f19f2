"""The embedded job queue: SQLite in WAL mode, safe across the API and worker processes.

Leases are fenced by a random token: a worker whose lease was taken back (it missed its
heartbeats) can no longer write anything about the job, so a job is never finished twice.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from patchloop.errors import Conflict, NotFound
from patchloop.service._db import connect, immediate
from patchloop.service._rows import (
    COLUMNS,
    PRUNABLE,
    PRUNE_BATCH,
    job_event_from_row,
    job_from_row,
    prune_cutoff,
    worker_lost,
)
from patchloop.service.jobs import Job, JobEvent, JobResult, JobStatus, Lease, NewJob
from patchloop.service.queue import Heartbeat, JobFilter, JobPage, LeasePolicy, NewEvent, Pruned

__all__ = ["SqliteQueue"]


def _event(
    conn: sqlite3.Connection,
    job_id: str,
    kind: str,
    message: str,
    *,
    lease: int = 0,
    body: str = "",
    at: float | None = None,
) -> None:
    conn.execute(
        "INSERT INTO events (job_id, at, lease, kind, body) VALUES (?, ?, ?, ?, ?)",
        (job_id, at if at is not None else time.time(), lease, kind, body or message),
    )


class SqliteQueue:
    """:class:`~patchloop.service.queue.JobQueue` over one SQLite file; one connection per
    thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        connect(path).close()  # create and migrate once, up front

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, migrate=False)
            self._local.conn = conn
        return conn

    # ------------------------------------------------------------------ API side

    def submit(self, new: NewJob) -> tuple[Job, bool]:
        conn = self.conn
        with immediate(conn):
            if new.idempotency_key is not None:
                row = conn.execute(
                    f"SELECT {COLUMNS}, request_hash FROM jobs WHERE team = ? AND idem_key = ?",
                    (new.team, new.idempotency_key),
                ).fetchone()
                if row is not None:
                    if row["request_hash"] != new.request_hash:
                        raise Conflict(
                            "this Idempotency-Key was used for a different request",
                            hint="send a new key for a new request, or repeat the first one",
                        )
                    return job_from_row(row), False
            job_id = f"{new.spec.kind[:3]}_{secrets.token_hex(8)}"
            now = time.time()
            conn.execute(
                "INSERT INTO jobs (id, kind, team, key_id, repo, spec, status, idem_key, "
                "request_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
                (
                    job_id,
                    new.spec.kind,
                    new.team,
                    new.key_id,
                    new.spec.repo.display,
                    new.spec.model_dump_json(),
                    new.idempotency_key,
                    new.request_hash,
                    now,
                ),
            )
            _event(conn, job_id, "job.queued", f"{new.spec.kind} accepted", at=now)
        return self.get(job_id, new.team), True

    def get(self, job_id: str, team: str | None) -> Job:
        row = self.conn.execute(
            f"SELECT {COLUMNS}, record FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        if row is None or (team is not None and row["team"] != team):
            raise NotFound(f"no run {job_id!r}", hint="list your runs with GET /v1/runs")
        return job_from_row(row, row["record"])

    def page(self, team: str, where: JobFilter, *, limit: int, cursor: int | None) -> JobPage:
        clauses = ["team = ?"]
        args: list[Any] = [team]
        for column, value in (
            ("kind", where.kind),
            ("status", where.status),
            ("verdict", where.verdict),
            ("repo", where.repo),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if where.created_after is not None:
            clauses.append("created_at >= ?")
            args.append(where.created_after)
        if where.created_before is not None:
            clauses.append("created_at < ?")
            args.append(where.created_before)
        if cursor is not None:
            clauses.append("seq < ?")
            args.append(cursor)
        rows = self.conn.execute(
            f"SELECT {COLUMNS} FROM jobs WHERE {' AND '.join(clauses)} ORDER BY seq DESC LIMIT ?",
            (*args, limit + 1),
        ).fetchall()
        jobs = tuple(job_from_row(r) for r in rows[:limit])
        return JobPage(jobs=jobs, next_cursor=jobs[-1].seq if len(rows) > limit else None)

    def cancel(self, job_id: str, team: str) -> Job:
        conn = self.conn
        with immediate(conn):
            job = self.get(job_id, team)
            if job.status == "queued":
                conn.execute(
                    "UPDATE jobs SET status = 'cancelled', finished_at = ?, "
                    "cancel_requested = 1 WHERE id = ?",
                    (time.time(), job_id),
                )
                _event(conn, job_id, "job.end", "cancelled before it started")
            elif job.status == "running" and not job.cancel_requested:
                conn.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
                _event(conn, job_id, "job.cancel", "cancel requested; stopping the run")
        return self.get(job_id, team)

    def events(self, job_id: str, *, after: int = 0, limit: int = 500) -> list[JobEvent]:
        rows = self.conn.execute(
            "SELECT id, job_id, at, lease, kind, body FROM events "
            "WHERE job_id = ? AND id > ? ORDER BY id LIMIT ?",
            (job_id, after, limit),
        ).fetchall()
        return [job_event_from_row(row) for row in rows]

    # ------------------------------------------------------------------ worker side

    def lease(self, worker: str, policy: LeasePolicy) -> Lease | None:
        conn = self.conn
        now = time.time()
        # A cheap read first: idle workers poll often and should not queue for the write lock.
        waiting = conn.execute(
            "SELECT 1 FROM jobs WHERE status = 'queued' OR (status = 'running' "
            "AND lease_expires < ?) LIMIT 1",
            (now,),
        ).fetchone()
        if waiting is None:
            return None
        with immediate(conn):
            self._reclaim(conn, now, policy.max_leases)
            running = dict(
                conn.execute(
                    "SELECT team, COUNT(*) FROM jobs WHERE status = 'running' GROUP BY team"
                ).fetchall()
            )
            if sum(running.values()) >= policy.max_running:
                return None
            chosen = None
            for row in conn.execute(
                "SELECT id, team FROM jobs WHERE status = 'queued' ORDER BY seq"
            ):
                limit = policy.team_limits.get(row["team"], policy.team_default)
                if running.get(row["team"], 0) < limit:
                    chosen = row["id"]
                    break
            if chosen is None:
                return None
            token = secrets.token_hex(16)
            conn.execute(
                "UPDATE jobs SET status = 'running', leases = leases + 1, worker = ?, "
                "lease_token = ?, lease_expires = ?, started_at = ?, "
                "first_started_at = COALESCE(first_started_at, ?) WHERE id = ?",
                (worker, token, now + policy.lease_s, now, now, chosen),
            )
            number = conn.execute("SELECT leases FROM jobs WHERE id = ?", (chosen,)).fetchone()[0]
            what = "started" if number == 1 else f"started again (try {number})"
            _event(conn, chosen, "job.start", f"{what} by worker {worker}", lease=number)
        return Lease(job=self.get(chosen, None), token=token, worker=worker, number=number)

    def _reclaim(self, conn: sqlite3.Connection, now: float, max_leases: int) -> None:
        expired = conn.execute(
            "SELECT id, leases, worker, cancel_requested FROM jobs "
            "WHERE status = 'running' AND lease_expires < ?",
            (now,),
        ).fetchall()
        for row in expired:
            job_id, lost = row["id"], f"worker {row['worker']} was lost (no heartbeat)"
            if row["cancel_requested"]:
                conn.execute(
                    "UPDATE jobs SET status = 'cancelled', finished_at = ?, lease_token = NULL "
                    "WHERE id = ?",
                    (now, job_id),
                )
                _event(conn, job_id, "job.end", f"cancelled; {lost}", lease=row["leases"])
            elif row["leases"] < max_leases:
                conn.execute(
                    "UPDATE jobs SET status = 'queued', retries = retries + 1, worker = NULL, "
                    "lease_token = NULL, lease_expires = NULL WHERE id = ?",
                    (job_id,),
                )
                _event(conn, job_id, "job.retry", f"{lost}; queued again", lease=row["leases"])
            else:
                result = worker_lost(lost, row["leases"])
                conn.execute(
                    "UPDATE jobs SET status = 'failed', verdict = 'error', infra = 1, "
                    "finished_at = ?, lease_token = NULL, result = ? WHERE id = ?",
                    (now, result.model_dump_json(), job_id),
                )
                _event(conn, job_id, "job.end", f"failed: {result.error}", lease=row["leases"])

    def heartbeat(self, lease: Lease, lease_s: float) -> Heartbeat:
        conn = self.conn
        cur = conn.execute(
            "UPDATE jobs SET lease_expires = ? WHERE id = ? AND lease_token = ? "
            "AND status = 'running'",
            (time.time() + lease_s, lease.job.id, lease.token),
        )
        if cur.rowcount == 0:
            return Heartbeat(held=False)
        row = conn.execute(
            "SELECT cancel_requested FROM jobs WHERE id = ?", (lease.job.id,)
        ).fetchone()
        return Heartbeat(held=True, cancel_requested=bool(row[0]))

    def _holds(self, conn: sqlite3.Connection, lease: Lease) -> bool:
        row = conn.execute(
            "SELECT 1 FROM jobs WHERE id = ? AND lease_token = ? AND status = 'running'",
            (lease.job.id, lease.token),
        ).fetchone()
        return row is not None

    def append(self, lease: Lease, events: Sequence[NewEvent]) -> bool:
        conn = self.conn
        with immediate(conn):
            if not self._holds(conn, lease):
                return False
            for event in events:
                _event(
                    conn,
                    lease.job.id,
                    event.kind,
                    event.message,
                    lease=lease.number,
                    body=event.body,
                    at=event.at,
                )
        return True

    def finish(self, lease: Lease, status: JobStatus, result: JobResult) -> bool:
        conn = self.conn
        record = result.record
        stored = result.model_copy(update={"record": None})
        with immediate(conn):
            if not self._holds(conn, lease):
                return False
            conn.execute(
                "UPDATE jobs SET status = ?, verdict = ?, result = ?, record = ?, "
                "finished_at = ?, tier = ?, infra = ?, prompt_tokens = ?, "
                "completion_tokens = ?, cached_tokens = ?, sandbox_s = ?, lease_token = NULL, "
                "lease_expires = NULL WHERE id = ?",
                (
                    status,
                    result.verdict,
                    stored.model_dump_json(),
                    record.model_dump_json() if record is not None else None,
                    time.time(),
                    result.fixed_by,
                    int(result.infra),
                    result.usage.prompt_tokens,
                    result.usage.completion_tokens,
                    result.usage.cached_tokens,
                    result.sandbox_s,
                    lease.job.id,
                ),
            )
            if record is not None:
                conn.executemany(
                    "INSERT INTO model_calls (job_id, backend, latency_s, error) "
                    "VALUES (?, ?, ?, ?)",
                    [
                        (
                            lease.job.id,
                            a.tier.split(":", 1)[0],
                            a.timings.get("model", 0.0),
                            int(a.status == "model_error"),
                        )
                        for a in record.attempts
                        if a.tier != "fixers"
                    ],
                )
            message = f"{status}: {result.verdict}"
            if result.error:
                message += f" ({result.error})"
            _event(conn, lease.job.id, "job.end", message, lease=lease.number)
        return True

    def release(self, lease: Lease, reason: str) -> None:
        conn = self.conn
        with immediate(conn):
            if not self._holds(conn, lease):
                return
            conn.execute(
                "UPDATE jobs SET status = 'queued', leases = leases - 1, worker = NULL, "
                "lease_token = NULL, lease_expires = NULL WHERE id = ?",
                (lease.job.id,),
            )
            _event(conn, lease.job.id, "job.requeued", reason, lease=lease.number)

    # ------------------------------------------------------------------ retention

    def prune(self, older_than_s: float, now: float) -> Pruned:
        cutoff = prune_cutoff(older_than_s, now)
        conn = self.conn
        events = jobs = 0
        while True:
            with immediate(conn):
                ids = [r[0] for r in conn.execute(PRUNABLE, (cutoff, PRUNE_BATCH)).fetchall()]
                for job_id in ids:
                    deleted = conn.execute("DELETE FROM events WHERE job_id = ?", (job_id,))
                    conn.execute(
                        "UPDATE jobs SET events_pruned_at = ?, events_pruned = ? WHERE id = ?",
                        (now, deleted.rowcount, job_id),
                    )
                    events += deleted.rowcount
            jobs += len(ids)
            if len(ids) < PRUNE_BATCH:
                return Pruned(events=events, jobs=jobs)

    def ping(self) -> None:
        self.conn.execute("SELECT 1 FROM jobs LIMIT 1").fetchall()

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
