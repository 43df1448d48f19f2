"""The statements of the job queues, written once: the SQLite and PostgreSQL tables have the
same columns. Placeholders are SQLite's ``?``; the PostgreSQL queue rewrites them to ``%s``
(:func:`patchloop.service._pg.pg_sql`) and appends its row locks where a statement says so.
"""

from __future__ import annotations

from typing import Any

from patchloop.service._rows import COLUMNS
from patchloop.service.jobs import JobResult, JobStatus, NewJob
from patchloop.service.queue import JobFilter

__all__ = [
    "BY_ID",
    "BY_KEY",
    "CANCEL_ASK",
    "CANCEL_NOW",
    "CANCEL_STATE",
    "EVENT",
    "EVENTS",
    "EXPIRED",
    "FINISH",
    "HOLDS",
    "INSERT_JOB",
    "LOST_CANCELLED",
    "LOST_FAILED",
    "LOST_QUEUED",
    "MARK_PRUNED",
    "MODEL_CALL",
    "PING",
    "PRUNABLE",
    "PRUNE_EVENTS",
    "RELEASE",
    "RENEW",
    "RUNNING",
    "TAKE",
    "WAITING",
    "finish_values",
    "job_values",
    "page_query",
]

_EXPIRED = "status = 'running' AND lease_expires < ?"

# ---------------------------------------------------------------------- API side
INSERT_JOB = (
    "INSERT INTO jobs (id, kind, team, key_id, repo, spec, status, idem_key, "
    "request_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)"
)


def job_values(new: NewJob, job_id: str, now: float) -> tuple[Any, ...]:
    """The arguments of :data:`INSERT_JOB`: the job ``new``, accepted at ``now``."""
    return (
        job_id,
        new.spec.kind,
        new.team,
        new.key_id,
        new.spec.repo.display,
        new.spec.model_dump_json(),
        new.idempotency_key,
        new.request_hash,
        now,
    )


#: The job holding a team's idempotency key (``?``: the team, the key).
BY_KEY = f"SELECT {COLUMNS}, request_hash FROM jobs WHERE team = ? AND idem_key = ?"
BY_ID = f"SELECT {COLUMNS}, record FROM jobs WHERE id = ?"
EVENT = "INSERT INTO events (job_id, at, lease, kind, body) VALUES (?, ?, ?, ?, ?)"
EVENTS = (
    "SELECT id, job_id, at, lease, kind, body FROM events "
    "WHERE job_id = ? AND id > ? ORDER BY id LIMIT ?"
)
#: Locked where rows are: the cancel decides on it.
CANCEL_STATE = "SELECT team, status, cancel_requested FROM jobs WHERE id = ?"
CANCEL_NOW = (
    "UPDATE jobs SET status = 'cancelled', finished_at = ?, cancel_requested = 1 WHERE id = ?"
)
CANCEL_ASK = "UPDATE jobs SET cancel_requested = 1 WHERE id = ?"

# ---------------------------------------------------------------------- worker side
#: Whether a lease may find anything: a job queued, or one whose lease expired (``?``: now).
WAITING = f"SELECT 1 FROM jobs WHERE status = 'queued' OR ({_EXPIRED}) LIMIT 1"
#: Running jobs whose lease expired before ``?``, oldest first; skips locked rows where rows
#: are locked.
EXPIRED = f"SELECT id, leases, worker, cancel_requested FROM jobs WHERE {_EXPIRED} ORDER BY seq"
LOST_CANCELLED = (
    "UPDATE jobs SET status = 'cancelled', finished_at = ?, lease_token = NULL WHERE id = ?"
)
LOST_QUEUED = (
    "UPDATE jobs SET status = 'queued', retries = retries + 1, worker = NULL, "
    "lease_token = NULL, lease_expires = NULL WHERE id = ?"
)
LOST_FAILED = (
    "UPDATE jobs SET status = 'failed', verdict = 'error', infra = 1, "
    "finished_at = ?, lease_token = NULL, result = ? WHERE id = ?"
)
RUNNING = "SELECT team, COUNT(*) AS n FROM jobs WHERE status = 'running' GROUP BY team"
TAKE = (
    "UPDATE jobs SET status = 'running', leases = leases + 1, worker = ?, "
    "lease_token = ?, lease_expires = ?, started_at = ?, "
    "first_started_at = COALESCE(first_started_at, ?) WHERE id = ?"
)
#: Extend a lease (``?``: the new expiry, the job, its token) while it is held.
RENEW = "UPDATE jobs SET lease_expires = ? WHERE id = ? AND lease_token = ? AND status = 'running'"
#: Whether a lease is still held; locked where rows are, so it cannot be taken back before the
#: transaction ends.
HOLDS = "SELECT 1 FROM jobs WHERE id = ? AND lease_token = ? AND status = 'running'"
FINISH = (
    "UPDATE jobs SET status = ?, verdict = ?, result = ?, record = ?, "
    "finished_at = ?, tier = ?, infra = ?, prompt_tokens = ?, "
    "completion_tokens = ?, cached_tokens = ?, sandbox_s = ?, "
    "lease_token = NULL, lease_expires = NULL WHERE id = ?"
)


def finish_values(job_id: str, status: JobStatus, result: JobResult, now: float) -> tuple[Any, ...]:
    """The arguments of :data:`FINISH`: the job ends at ``now`` with ``result``; its run record
    is stored in a column of its own."""
    record = result.record
    stored = result.model_copy(update={"record": None})
    return (
        status,
        result.verdict,
        stored.model_dump_json(),
        record.model_dump_json() if record is not None else None,
        now,
        result.fixed_by,
        int(result.infra),
        result.usage.prompt_tokens,
        result.usage.completion_tokens,
        result.usage.cached_tokens,
        result.sandbox_s,
        job_id,
    )


MODEL_CALL = "INSERT INTO model_calls (job_id, backend, latency_s, error) VALUES (?, ?, ?, ?)"
RELEASE = (
    "UPDATE jobs SET status = 'queued', leases = leases - 1, worker = NULL, "
    "lease_token = NULL, lease_expires = NULL WHERE id = ?"
)

# ---------------------------------------------------------------------- retention
#: Jobs whose events may be pruned (``?``: the cutoff, the batch size), oldest first: finished
#: before the cutoff and not pruned yet. Only terminal jobs have a ``finished_at``; the status
#: is checked as well, so a queued or running job is never touched.
PRUNABLE = (
    "SELECT id FROM jobs WHERE events_pruned_at IS NULL AND finished_at < ? "
    "AND status IN ('succeeded', 'failed', 'cancelled') ORDER BY finished_at LIMIT ?"
)
PRUNE_EVENTS = "DELETE FROM events WHERE job_id = ?"
MARK_PRUNED = "UPDATE jobs SET events_pruned_at = ?, events_pruned = ? WHERE id = ?"
PING = "SELECT 1 FROM jobs LIMIT 1"


def page_query(
    team: str, where: JobFilter, *, limit: int, cursor: int | None
) -> tuple[str, tuple[Any, ...]]:
    """The statement and arguments of one page of ``team``'s jobs, newest first: one row more
    than ``limit``, to tell whether another page follows."""
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
    sql = f"SELECT {COLUMNS} FROM jobs WHERE {' AND '.join(clauses)} ORDER BY seq DESC LIMIT ?"
    return sql, (*args, limit + 1)
