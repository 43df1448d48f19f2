"""Repairs, runs and verifications. Each endpoint is a few lines over admission and the
queue; the operational ones are in :mod:`.routes_ops`, index warm-ups in :mod:`.routes_index`."""

from __future__ import annotations

import time
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from patchloop.errors import NotFound
from patchloop.service.admission import admit_repair, admit_verify
from patchloop.service.deps import ERRORS, IdempotencyKey, Key, State, accepted_response
from patchloop.service.events import event_stream
from patchloop.service.jobs import JobKind, JobStatus
from patchloop.service.queue import JobFilter
from patchloop.service.schemas import (
    Accepted,
    RepairRequest,
    RunList,
    RunView,
    VerifyRequest,
    run_summary,
    run_view,
)

__all__ = ["router"]

router = APIRouter()
#: How often a waiting verification looks at its job.
VERIFY_POLL_S = 0.1


@router.post(
    "/v1/repairs", status_code=202, response_model=Accepted, responses=ERRORS, tags=["repairs"]
)
async def submit_repair(
    body: RepairRequest, key: Key, state: State, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Queue a repair; 202 with its id and where to follow it."""
    new = await anyio.to_thread.run_sync(admit_repair, body, key, state.settings, idempotency_key)
    job, created = await anyio.to_thread.run_sync(state.queue.submit, new)
    return accepted_response(job, created)


@router.get("/v1/repairs/{job_id}", response_model=RunView, responses=ERRORS, tags=["repairs"])
def get_repair(job_id: str, key: Key, state: State) -> RunView:
    """Status, verdict, diff, tokens, sandbox seconds, timings and the run record."""
    return run_view(state.queue.get(job_id, key.team))


@router.delete(
    "/v1/repairs/{job_id}",
    status_code=202,
    response_model=RunView,
    responses=ERRORS,
    tags=["repairs"],
)
def cancel_repair(job_id: str, key: Key, state: State) -> RunView:
    """Cancel: a queued job ends at once; a running one is stopped (its record is kept)."""
    return run_view(state.queue.cancel(job_id, key.team))


@router.get("/v1/repairs/{job_id}/events", responses=ERRORS, tags=["repairs"])
def repair_events(
    job_id: str,
    *,
    key: Key,
    state: State,
    request: Request,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[int | None, Query(ge=0, description="Resume after this event id.")] = None,
) -> StreamingResponse:
    """Server-sent events of the job, from the start or after ``Last-Event-ID``; the stream
    ends with the ``job.end`` event, or, for a job whose log was pruned, with one
    ``job.pruned`` event."""
    state.queue.get(job_id, key.team)  # 404 before the stream starts
    start = after or 0
    if last_event_id and last_event_id.strip().isdigit():
        start = max(start, int(last_event_id.strip()))
    return StreamingResponse(
        event_stream(state.queue, job_id, start, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/v1/runs", response_model=RunList, responses=ERRORS, tags=["runs"])
def list_runs(
    *,
    key: Key,
    state: State,
    kind: JobKind | None = None,
    status: JobStatus | None = None,
    verdict: str | None = None,
    repository: str | None = None,
    created_after: float | None = None,
    created_before: float | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^\d+$")] = None,
) -> RunList:
    """The team's jobs, newest first, filtered; follow ``next_cursor`` for more."""
    where = JobFilter(
        kind=kind,
        status=status,
        verdict=verdict,
        repo=repository,
        created_after=created_after,
        created_before=created_before,
    )
    page = state.queue.page(key.team, where, limit=limit, cursor=int(cursor) if cursor else None)
    return RunList(
        runs=[run_summary(j) for j in page.jobs],
        next_cursor=str(page.next_cursor) if page.next_cursor is not None else None,
    )


@router.post(
    "/v1/verify",
    response_model=RunView,
    responses={**ERRORS, 202: {"model": Accepted}},
    tags=["verify"],
)
async def verify(
    body: VerifyRequest, key: Key, state: State, idempotency_key: IdempotencyKey = None
) -> Response:
    """Apply a diff in the sandbox and run the tests: 200 with the per-test verdict, or 202
    when it takes longer than the server waits (poll ``GET /v1/verify/{id}``)."""
    new = await anyio.to_thread.run_sync(admit_verify, body, key, state.settings, idempotency_key)
    job, created = await anyio.to_thread.run_sync(state.queue.submit, new)
    deadline = time.monotonic() + (state.settings.verify_wait_s if body.wait else 0.0)
    while not job.done and time.monotonic() < deadline:
        await anyio.sleep(VERIFY_POLL_S)
        job = await anyio.to_thread.run_sync(state.queue.get, job.id, key.team)
    if not job.done:
        return accepted_response(job, created)
    return JSONResponse(run_view(job).model_dump(mode="json"))


@router.get("/v1/verify/{job_id}", response_model=RunView, responses=ERRORS, tags=["verify"])
def get_verify(job_id: str, key: Key, state: State) -> RunView:
    """A verification's status and per-test verdict."""
    job = state.queue.get(job_id, key.team)
    if job.kind != "verify":
        raise NotFound(f"{job_id!r} is not a verification", hint=f"GET /v1/repairs/{job_id}")
    return run_view(job)
