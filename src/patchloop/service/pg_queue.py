"""The job queue in PostgreSQL: the same jobs, leases and events as the SQLite queue, for an
API and workers on several machines.

SQLite serializes every write; here each operation locks what it relies on instead:

- ``lease`` takes a transaction-scoped advisory lock, so the running counts it checks the
  limits against cannot change under it, and picks its job with ``FOR UPDATE SKIP LOCKED``, so
  two workers never get the same job (and a job being cancelled is passed over, not waited on).
- Every write about a job (an event, a finish, a cancel, a lease taken back) first locks the
  job's row. Writes about one job are therefore committed in the order their event ids were
  drawn, and a reader paging with ``after`` never skips an event committed late.
- Leases are fenced by a random token, as in SQLite: a worker whose lease was taken back can
  no longer write anything about the job.
- ``prune`` locks the finished jobs it prunes (skipping any locked by another pruner), so
  servers pruning at once never count an event twice.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import Any

from patchloop.errors import Conflict, NotFound
from patchloop.service._pg import LEASE_LOCK, Connection, PgDatabase
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

__all__ = ["PostgresQueue"]


def _event(
    conn: Connection,
    job_id: str,
    kind: str,
    message: str,
    *,
    lease: int = 0,
    body: str = "",
    at: float | None = None,
) -> None:
    conn.execute(
        "INSERT INTO events (job_id, at, lease, kind, body) VALUES (%s, %s, %s, %s, %s)",
        (job_id, at if at is not None else time.time(), lease, kind, body or message),
    )


class PostgresQueue:
    """:class:`~patchloop.service.queue.JobQueue` over a PostgreSQL database named by URL; one
    connection per thread."""

    def __init__(self, url: str) -> None:
        self.db = PgDatabase(url)

    @property
    def conn(self) -> Connection:
        """This thread's connection."""
        return self.db.conn

    # ------------------------------------------------------------------ API side

    def submit(self, new: NewJob) -> tuple[Job, bool]:
        conn = self.conn
        job_id = f"{new.spec.kind[:3]}_{secrets.token_hex(8)}"
        now = time.time()
        with conn.transaction():
            # A concurrent submit with the same key waits on the unique index, then sees the
            # first one's row: the key is honoured without a table lock.
            inserted = conn.execute(
                "INSERT INTO jobs (id, kind, team, key_id, repo, spec, status, idem_key, "
                "request_hash, created_at) VALUES (%s, %s, %s, %s, %s, %s, 'queued', %s, %s, %s) "
                "ON CONFLICT (team, idem_key) DO NOTHING RETURNING id",
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
            ).fetchone()
            if inserted is None:
                row = conn.execute(
                    f"SELECT {COLUMNS}, request_hash FROM jobs "
                    "WHERE team = %s AND idem_key = %s".encode(),
                    (new.team, new.idempotency_key),
                ).fetchone()
                assert row is not None  # the conflicting row is committed and never deleted
                if row["request_hash"] != new.request_hash:
                    raise Conflict(
                        "this Idempotency-Key was used for a different request",
                        hint="send a new key for a new request, or repeat the first one",
                    )
                return job_from_row(row), False
            _event(conn, job_id, "job.queued", f"{new.spec.kind} accepted", at=now)
        return self.get(job_id, new.team), True

    def get(self, job_id: str, team: str | None) -> Job:
        row = self.conn.execute(
            f"SELECT {COLUMNS}, record FROM jobs WHERE id = %s".encode(), (job_id,)
        ).fetchone()
        if row is None or (team is not None and row["team"] != team):
            raise NotFound(f"no run {job_id!r}", hint="list your runs with GET /v1/runs")
        return job_from_row(row, row["record"])

    def page(self, team: str, where: JobFilter, *, limit: int, cursor: int | None) -> JobPage:
        clauses = ["team = %s"]
        args: list[Any] = [team]
        for column, value in (
            ("kind", where.kind),
            ("status", where.status),
            ("verdict", where.verdict),
            ("repo", where.repo),
        ):
            if value is not None:
                clauses.append(f"{column} = %s")
                args.append(value)
        if where.created_after is not None:
            clauses.append("created_at >= %s")
            args.append(where.created_after)
        if where.created_before is not None:
            clauses.append("created_at < %s")
            args.append(where.created_before)
        if cursor is not None:
            clauses.append("seq < %s")
            args.append(cursor)
        rows = self.db.rows(
            f"SELECT {COLUMNS} FROM jobs WHERE {' AND '.join(clauses)} ORDER BY seq DESC LIMIT %s",
            (*args, limit + 1),
        )
        jobs = tuple(job_from_row(r) for r in rows[:limit])
        return JobPage(jobs=jobs, next_cursor=jobs[-1].seq if len(rows) > limit else None)

    def cancel(self, job_id: str, team: str) -> Job:
        conn = self.conn
        with conn.transaction():
            row = conn.execute(
                "SELECT team, status, cancel_requested FROM jobs WHERE id = %s FOR UPDATE",
                (job_id,),
            ).fetchone()
            if row is None or row["team"] != team:
                raise NotFound(f"no run {job_id!r}", hint="list your runs with GET /v1/runs")
            if row["status"] == "queued":
                conn.execute(
                    "UPDATE jobs SET status = 'cancelled', finished_at = %s, "
                    "cancel_requested = 1 WHERE id = %s",
                    (time.time(), job_id),
                )
                _event(conn, job_id, "job.end", "cancelled before it started")
            elif row["status"] == "running" and not row["cancel_requested"]:
                conn.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = %s", (job_id,))
                _event(conn, job_id, "job.cancel", "cancel requested; stopping the run")
        return self.get(job_id, team)

    def events(self, job_id: str, *, after: int = 0, limit: int = 500) -> list[JobEvent]:
        rows = self.conn.execute(
            "SELECT id, job_id, at, lease, kind, body FROM events "
            "WHERE job_id = %s AND id > %s ORDER BY id LIMIT %s",
            (job_id, after, limit),
        ).fetchall()
        return [job_event_from_row(row) for row in rows]

    # ------------------------------------------------------------------ worker side

    def lease(self, worker: str, policy: LeasePolicy) -> Lease | None:
        conn = self.conn
        now = time.time()
        # A cheap read first: idle workers poll often and should not queue for the lock.
        waiting = conn.execute(
            "SELECT 1 FROM jobs WHERE status = 'queued' OR (status = 'running' "
            "AND lease_expires < %s) LIMIT 1",
            (now,),
        ).fetchone()
        if waiting is None:
            return None
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LEASE_LOCK,))
            self._reclaim(conn, now, policy.max_leases)
            running: dict[str, int] = {
                r["team"]: r["n"]
                for r in conn.execute(
                    "SELECT team, COUNT(*) AS n FROM jobs WHERE status = 'running' GROUP BY team"
                )
            }
            if sum(running.values()) >= policy.max_running:
                return None
            picked = self._pick(conn, policy, running)
            if picked is None:
                return None
            token = secrets.token_hex(16)
            updated = conn.execute(
                "UPDATE jobs SET status = 'running', leases = leases + 1, worker = %s, "
                "lease_token = %s, lease_expires = %s, started_at = %s, "
                "first_started_at = COALESCE(first_started_at, %s) WHERE id = %s "
                "RETURNING leases",
                (worker, token, now + policy.lease_s, now, now, picked),
            ).fetchone()
            assert updated is not None  # the row is locked by this transaction
            number: int = updated["leases"]
            what = "started" if number == 1 else f"started again (try {number})"
            _event(conn, picked, "job.start", f"{what} by worker {worker}", lease=number)
        return Lease(job=self.get(picked, None), token=token, worker=worker, number=number)

    @staticmethod
    def _pick(conn: Connection, policy: LeasePolicy, running: dict[str, int]) -> str | None:
        """Lock the oldest queued job whose team is under its limit."""

        def limit(team: str) -> int:
            return policy.team_limits.get(team, policy.team_default)

        teams = set(running) | set(policy.team_limits)
        if policy.team_default > 0:
            full = [t for t in teams if running.get(t, 0) >= limit(t)]
            where, arg = "team <> ALL(%s)", full
        else:  # only teams named in the policy may run at all
            open_ = [t for t in policy.team_limits if running.get(t, 0) < limit(t)]
            where, arg = "team = ANY(%s)", open_
        row = conn.execute(
            f"SELECT id FROM jobs WHERE status = 'queued' AND {where} ORDER BY seq LIMIT 1 "
            "FOR UPDATE SKIP LOCKED".encode(),
            (arg,),
        ).fetchone()
        return None if row is None else str(row["id"])

    def _reclaim(self, conn: Connection, now: float, max_leases: int) -> None:
        expired = conn.execute(
            "SELECT id, leases, worker, cancel_requested FROM jobs "
            "WHERE status = 'running' AND lease_expires < %s ORDER BY seq FOR UPDATE SKIP LOCKED",
            (now,),
        ).fetchall()
        for row in expired:
            job_id, lost = row["id"], f"worker {row['worker']} was lost (no heartbeat)"
            if row["cancel_requested"]:
                conn.execute(
                    "UPDATE jobs SET status = 'cancelled', finished_at = %s, "
                    "lease_token = NULL WHERE id = %s",
                    (now, job_id),
                )
                _event(conn, job_id, "job.end", f"cancelled; {lost}", lease=row["leases"])
            elif row["leases"] < max_leases:
                conn.execute(
                    "UPDATE jobs SET status = 'queued', retries = retries + 1, worker = NULL, "
                    "lease_token = NULL, lease_expires = NULL WHERE id = %s",
                    (job_id,),
                )
                _event(conn, job_id, "job.retry", f"{lost}; queued again", lease=row["leases"])
            else:
                result = worker_lost(lost, row["leases"])
                conn.execute(
                    "UPDATE jobs SET status = 'failed', verdict = 'error', infra = 1, "
                    "finished_at = %s, lease_token = NULL, result = %s WHERE id = %s",
                    (now, result.model_dump_json(), job_id),
                )
                _event(conn, job_id, "job.end", f"failed: {result.error}", lease=row["leases"])

    def heartbeat(self, lease: Lease, lease_s: float) -> Heartbeat:
        row = self.conn.execute(
            "UPDATE jobs SET lease_expires = %s WHERE id = %s AND lease_token = %s "
            "AND status = 'running' RETURNING cancel_requested",
            (time.time() + lease_s, lease.job.id, lease.token),
        ).fetchone()
        if row is None:
            return Heartbeat(held=False)
        return Heartbeat(held=True, cancel_requested=bool(row["cancel_requested"]))

    def _holds(self, conn: Connection, lease: Lease) -> bool:
        """Whether ``lease`` is still held; the job's row stays locked until the transaction
        ends, so the lease cannot be taken back in between."""
        row = conn.execute(
            "SELECT 1 FROM jobs WHERE id = %s AND lease_token = %s AND status = 'running' "
            "FOR UPDATE",
            (lease.job.id, lease.token),
        ).fetchone()
        return row is not None

    def append(self, lease: Lease, events: Sequence[NewEvent]) -> bool:
        conn = self.conn
        with conn.transaction():
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
        with conn.transaction():
            if not self._holds(conn, lease):
                return False
            conn.execute(
                "UPDATE jobs SET status = %s, verdict = %s, result = %s, record = %s, "
                "finished_at = %s, tier = %s, infra = %s, prompt_tokens = %s, "
                "completion_tokens = %s, cached_tokens = %s, sandbox_s = %s, "
                "lease_token = NULL, lease_expires = NULL WHERE id = %s",
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
                calls = [
                    (
                        lease.job.id,
                        a.tier.split(":", 1)[0],
                        a.timings.get("model", 0.0),
                        int(a.status == "model_error"),
                    )
                    for a in record.attempts
                    if a.tier != "fixers"
                ]
                if calls:
                    conn.cursor().executemany(
                        "INSERT INTO model_calls (job_id, backend, latency_s, error) "
                        "VALUES (%s, %s, %s, %s)",
                        calls,
                    )
            message = f"{status}: {result.verdict}"
            if result.error:
                message += f" ({result.error})"
            _event(conn, lease.job.id, "job.end", message, lease=lease.number)
        return True

    def release(self, lease: Lease, reason: str) -> None:
        conn = self.conn
        with conn.transaction():
            if not self._holds(conn, lease):
                return
            conn.execute(
                "UPDATE jobs SET status = 'queued', leases = leases - 1, worker = NULL, "
                "lease_token = NULL, lease_expires = NULL WHERE id = %s",
                (lease.job.id,),
            )
            _event(conn, lease.job.id, "job.requeued", reason, lease=lease.number)

    # ------------------------------------------------------------------ retention

    def prune(self, older_than_s: float, now: float) -> Pruned:
        cutoff = prune_cutoff(older_than_s, now)
        conn = self.conn
        select = (PRUNABLE + " FOR UPDATE SKIP LOCKED").replace("?", "%s").encode()
        events = jobs = 0
        while True:
            with conn.transaction():
                ids = [r["id"] for r in conn.execute(select, (cutoff, PRUNE_BATCH)).fetchall()]
                for job_id in ids:
                    deleted = conn.execute("DELETE FROM events WHERE job_id = %s", (job_id,))
                    conn.execute(
                        "UPDATE jobs SET events_pruned_at = %s, events_pruned = %s WHERE id = %s",
                        (now, deleted.rowcount, job_id),
                    )
                    events += deleted.rowcount
            jobs += len(ids)
            if len(ids) < PRUNE_BATCH:
                return Pruned(events=events, jobs=jobs)

    def ping(self) -> None:
        self.conn.execute("SELECT 1 FROM jobs LIMIT 1").fetchall()

    def close(self) -> None:
        self.db.close()
