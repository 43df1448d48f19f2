"""The endpoints. Each is a few lines over admission, the queue and the stats."""

from __future__ import annotations

import time
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

from patchloop.errors import NotFound, UsageError
from patchloop.service.admission import admit_index, admit_repair, admit_verify
from patchloop.service.app import ServiceState
from patchloop.service.events import event_stream
from patchloop.service.jobs import Job, JobKind, JobStatus
from patchloop.service.keys import ApiKey
from patchloop.service.metrics import CONTENT_TYPE, render_metrics
from patchloop.service.queue import JobFilter
from patchloop.service.schemas import (
    Accepted,
    ErrorBody,
    IndexList,
    IndexRequest,
    PushHook,
    RepairRequest,
    Repository,
    RunList,
    RunView,
    VerifyRequest,
    accepted,
    run_summary,
    run_view,
)
from patchloop.service.slo import SloReport, slo_report

__all__ = ["router"]

router = APIRouter()
ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 422, 429)
}
#: The page runs its own inline script and talks to this origin only.
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"
)
#: How often a waiting verification looks at its job.
VERIFY_POLL_S = 0.1


def _state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


def authenticated(request: Request) -> ApiKey:
    """The caller's key (``Authorization: Bearer KEY`` or ``X-API-Key``), rate-limited."""
    state = _state(request)
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    token = token or request.headers.get("x-api-key") or request.headers.get("x-gitlab-token")
    key = state.keys.authenticate(token)
    state.limiter.take(key.id)
    return key


Key = Annotated[ApiKey, Depends(authenticated)]
State = Annotated[ServiceState, Depends(_state)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def _accepted(job: Job, created: bool) -> JSONResponse:
    body = accepted(job, replayed=not created)
    return JSONResponse(body.model_dump(), status_code=202, headers={"Location": body.urls.self})


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index() -> HTMLResponse:
    """The web UI (its data comes from the API, with the key the user enters)."""
    from patchloop.service.ui import PAGE

    return HTMLResponse(PAGE, headers={"Content-Security-Policy": CSP})


@router.get("/healthz", tags=["ops"])
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz", tags=["ops"])
def readyz(state: State) -> JSONResponse:
    """The database answers and, when this process runs workers, at least one is alive."""
    try:
        state.queue.conn.execute("SELECT 1 FROM jobs LIMIT 1").fetchall()
    except Exception as exc:  # any database failure means not ready
        return JSONResponse({"status": "unready", "reason": f"database: {exc}"}, 503)
    supervisor = state.supervisor
    if supervisor is not None and supervisor.alive == 0:
        return JSONResponse({"status": "unready", "reason": "no worker is running"}, 503)
    alive = supervisor.alive if supervisor is not None else 0
    return JSONResponse({"status": "ready", "workers": alive})


@router.post(
    "/v1/repairs", status_code=202, response_model=Accepted, responses=ERRORS, tags=["repairs"]
)
async def submit_repair(
    body: RepairRequest, key: Key, state: State, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Queue a repair; 202 with its id and where to follow it."""
    new = await anyio.to_thread.run_sync(admit_repair, body, key, state.settings, idempotency_key)
    job, created = await anyio.to_thread.run_sync(state.queue.submit, new)
    return _accepted(job, created)


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
    ends with the ``job.end`` event."""
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
        return _accepted(job, created)
    return JSONResponse(run_view(job).model_dump(mode="json"))


@router.get("/v1/verify/{job_id}", response_model=RunView, responses=ERRORS, tags=["verify"])
def get_verify(job_id: str, key: Key, state: State) -> RunView:
    """A verification's status and per-test verdict."""
    job = state.queue.get(job_id, key.team)
    if job.kind != "verify":
        raise NotFound(f"{job_id!r} is not a verification", hint=f"GET /v1/repairs/{job_id}")
    return run_view(job)


@router.get("/metrics", tags=["ops"], response_class=Response, responses=ERRORS)
def metrics(key: Key, state: State) -> Response:
    """Prometheus text format."""
    return Response(render_metrics(state.stats, state.settings.slo), media_type=CONTENT_TYPE)


@router.get("/v1/slo", response_model=SloReport, responses=ERRORS, tags=["ops"])
def slo(key: Key, state: State) -> SloReport:
    """Each objective, its current value over the window, and its error budget."""
    return slo_report(state.stats, state.settings.slo)


@router.post(
    "/v1/indexes", status_code=202, response_model=Accepted, responses=ERRORS, tags=["indexes"]
)
async def warm_index(
    body: IndexRequest, key: Key, state: State, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Index a repository ref ahead of repairs (lexically; ``dense`` embeds too)."""
    new = await anyio.to_thread.run_sync(admit_index, body, key, state.settings, idempotency_key)
    job, created = await anyio.to_thread.run_sync(state.queue.submit, new)
    return _accepted(job, created)


@router.get("/v1/indexes", response_model=IndexList, responses=ERRORS, tags=["indexes"])
def index_freshness(key: Key, state: State, repository: str | None = None) -> IndexList:
    """The latest index of each of the team's refs, and whether the ref moved since."""
    from patchloop.service.freshness import freshness

    return freshness(state.queue, state.settings, key.team, repository)


@router.get("/v1/indexes/{job_id}", response_model=RunView, responses=ERRORS, tags=["indexes"])
def get_index(job_id: str, key: Key, state: State) -> RunView:
    """One index job: status and what indexing did."""
    job = state.queue.get(job_id, key.team)
    if job.kind != "index":
        raise NotFound(f"{job_id!r} is not an index job", hint=f"GET /v1/repairs/{job_id}")
    return run_view(job)


@router.post("/v1/hooks/push", responses=ERRORS, tags=["indexes"])
async def push_hook(body: PushHook, key: Key, state: State) -> JSONResponse:
    """A code host's push webhook: index the pushed branch. The key may come as
    ``X-Gitlab-Token``; deleted branches and tags are ignored."""
    if body.after is not None and set(body.after) == {"0"}:
        return JSONResponse({"ignored": "the branch was deleted"})
    if not body.ref.startswith("refs/heads/"):
        return JSONResponse({"ignored": f"{body.ref} is not a branch"})
    if body.url is None:
        raise UsageError(
            "the push payload names no repository URL",
            hint="send repository.clone_url (GitHub, Gitea) or project.git_http_url (GitLab)",
        )
    request = IndexRequest(
        repository=Repository(url=body.url, ref=body.ref.removeprefix("refs/heads/"))
    )
    new = await anyio.to_thread.run_sync(admit_index, request, key, state.settings, None)
    job, created = await anyio.to_thread.run_sync(state.queue.submit, new)
    return _accepted(job, created)
