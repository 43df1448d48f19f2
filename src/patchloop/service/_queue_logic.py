"""What the job queues decide, whichever database holds the jobs: a job's next state, the
event that records each change, who may start a job, when a lost job is retried and when it
fails, what an idempotency key replays. Pure: no SQL and no connection;
:class:`~patchloop.service._sql_queue.SqlQueue` carries the decisions out.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from patchloop.domain import RunRecord
from patchloop.errors import Conflict, NotFound, UsageError
from patchloop.service.jobs import JobKind, JobResult, JobStatus
from patchloop.service.queue import LeasePolicy, NewEvent

__all__ = [
    "PRUNE_BATCH",
    "Cancel",
    "Reclaim",
    "Teams",
    "at_capacity",
    "cancel_step",
    "check_found",
    "check_replay",
    "ended",
    "event_values",
    "last_batch",
    "model_calls",
    "new_job_id",
    "new_lease_token",
    "open_teams",
    "prune_cutoff",
    "queued",
    "reclaim_step",
    "requeued",
    "started",
    "worker_lost",
]

#: Jobs pruned per transaction: a short hold on the write lock, whatever the backlog.
PRUNE_BATCH = 200


def new_job_id(kind: JobKind) -> str:
    """A fresh job id: the kind's first letters, then random hex."""
    return f"{kind[:3]}_{secrets.token_hex(8)}"


def new_lease_token() -> str:
    """A fresh fencing token for one lease."""
    return secrets.token_hex(16)


# ---------------------------------------------------------------------- API side


def check_found(job_id: str, owner: str | None, team: str | None) -> None:
    """Raise ``NotFound`` unless the job exists (``owner`` is its team; ``None``: no such
    job) and ``team`` may see it (``None``: any team may)."""
    if owner is None or (team is not None and owner != team):
        raise NotFound(f"no run {job_id!r}", hint="list your runs with GET /v1/runs")


def check_replay(stored_hash: str, request_hash: str) -> None:
    """A submit whose idempotency key the team used before replays that job, unless the key
    came with another request: then ``Conflict``."""
    if stored_hash != request_hash:
        raise Conflict(
            "this Idempotency-Key was used for a different request",
            hint="send a new key for a new request, or repeat the first one",
        )


def queued(kind: JobKind, at: float) -> NewEvent:
    """The event of a job accepted at ``at``."""
    return NewEvent(kind="job.queued", message=f"{kind} accepted", at=at)


@dataclass(frozen=True)
class Cancel:
    """What a cancel does to a job: end it now (it never started), or ask its worker."""

    to: Literal["cancelled", "cancel_requested"]
    event: NewEvent


def cancel_step(status: str, cancel_requested: bool) -> Cancel | None:
    """What cancelling a job in ``status`` does; ``None``: nothing (it has ended already, or
    its worker was asked before)."""
    if status == "queued":
        return Cancel("cancelled", NewEvent(kind="job.end", message="cancelled before it started"))
    if status == "running" and not cancel_requested:
        message = "cancel requested; stopping the run"
        return Cancel("cancel_requested", NewEvent(kind="job.cancel", message=message))
    return None


# ---------------------------------------------------------------------- leases


def at_capacity(policy: LeasePolicy, running: Mapping[str, int]) -> bool:
    """Whether the jobs running (by team) leave no room for another anywhere."""
    return sum(running.values()) >= policy.max_running


@dataclass(frozen=True)
class Teams:
    """The teams that may start a job now: every team but ``names`` (``exclude``), or only
    ``names``."""

    names: tuple[str, ...]
    exclude: bool

    def admits(self, team: str) -> bool:
        """Whether ``team`` may start a job."""
        return (team not in self.names) if self.exclude else (team in self.names)


def open_teams(policy: LeasePolicy, running: Mapping[str, int]) -> Teams:
    """The teams under their limit, given the jobs running by team: with a positive default
    limit, all but the full ones; otherwise only teams the policy names."""

    def has_room(team: str) -> bool:
        return running.get(team, 0) < policy.team_limits.get(team, policy.team_default)

    if policy.team_default > 0:
        teams = set(running) | set(policy.team_limits)
        return Teams(names=tuple(sorted(t for t in teams if not has_room(t))), exclude=True)
    return Teams(names=tuple(t for t in policy.team_limits if has_room(t)), exclude=False)


def started(number: int, worker: str) -> NewEvent:
    """The event of a job's ``number``-th lease, to ``worker``."""
    what = "started" if number == 1 else f"started again (try {number})"
    return NewEvent(kind="job.start", message=f"{what} by worker {worker}")


def worker_lost(lost: str, leases: int) -> JobResult:
    """The result of a job whose worker was lost on each of its ``leases`` tries."""
    return JobResult(
        verdict="error",
        error=f"{lost} on each of {leases} tries",
        hint="check the workers' logs and resources; submit the job again",
        error_kind="WorkerLost",
        infra=True,
    )


@dataclass(frozen=True)
class Reclaim:
    """What becomes of a running job whose lease expired."""

    to: Literal["cancelled", "queued", "failed"]
    event: NewEvent
    result: JobResult | None = None
    """The failed job's result."""


def reclaim_step(
    worker: str | None, leases: int, cancel_requested: bool, max_leases: int
) -> Reclaim:
    """A job whose worker stopped renewing its lease: cancelled when a cancel was asked for,
    queued again while it has had fewer than ``max_leases`` leases, failed after that."""
    lost = f"worker {worker} was lost (no heartbeat)"
    if cancel_requested:
        return Reclaim("cancelled", NewEvent(kind="job.end", message=f"cancelled; {lost}"))
    if leases < max_leases:
        return Reclaim("queued", NewEvent(kind="job.retry", message=f"{lost}; queued again"))
    result = worker_lost(lost, leases)
    return Reclaim("failed", NewEvent(kind="job.end", message=f"failed: {result.error}"), result)


def ended(status: JobStatus, result: JobResult) -> NewEvent:
    """The event of a job its worker finished."""
    message = f"{status}: {result.verdict}"
    if result.error:
        message += f" ({result.error})"
    return NewEvent(kind="job.end", message=message)


def requeued(reason: str) -> NewEvent:
    """The event of a job its worker put back (it is stopping)."""
    return NewEvent(kind="job.requeued", message=reason)


def model_calls(job_id: str, record: RunRecord) -> list[tuple[str, str, float, int]]:
    """The model calls of a finished run, for latency metrics: ``(job_id, backend,
    latency_s, error)`` per attempt of a model tier."""
    return [
        (
            job_id,
            a.tier.split(":", 1)[0],
            a.timings.get("model", 0.0),
            int(a.status == "model_error"),
        )
        for a in record.attempts
        if a.tier != "fixers"
    ]


def event_values(
    job_id: str, event: NewEvent, lease: int, now: float
) -> tuple[str, float, int, str, str]:
    """An event's row ``(job_id, at, lease, kind, body)``: at ``now`` unless it says when; a
    service event's body is its message, a run event's its JSON."""
    at = event.at if event.at is not None else now
    return job_id, at, lease, event.kind, event.body or event.message


# ---------------------------------------------------------------------- retention


def prune_cutoff(older_than_s: float, now: float) -> float:
    """Jobs that finished before this time have their events pruned."""
    if not older_than_s >= 0:
        raise UsageError(
            f"cannot prune events younger than {older_than_s} seconds",
            hint="give an age of 0 seconds or more",
        )
    return now - older_than_s


def last_batch(pruned: int) -> bool:
    """Whether a prune batch of ``pruned`` jobs was the last (it was not full)."""
    return pruned < PRUNE_BATCH
