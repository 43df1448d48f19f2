"""Index warm-ups: ``POST /v1/indexes``, freshness, the push webhook."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from patchloop.errors import NotFound, UsageError
from patchloop.service.admission import admit_index
from patchloop.service.deps import ERRORS, IdempotencyKey, Key, State, accepted_response
from patchloop.service.schemas import (
    Accepted,
    IndexList,
    IndexRequest,
    PushHook,
    Repository,
    RunView,
    run_view,
)

__all__ = ["router"]

router = APIRouter()


@router.post(
    "/v1/indexes", status_code=202, response_model=Accepted, responses=ERRORS, tags=["indexes"]
)
async def warm_index(
    body: IndexRequest, key: Key, state: State, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Index a repository ref ahead of repairs (lexically; ``dense`` embeds too)."""
    new = await anyio.to_thread.run_sync(admit_index, body, key, state.settings, idempotency_key)
    job, created = await anyio.to_thread.run_sync(state.queue.submit, new)
    return accepted_response(job, created)


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
    return accepted_response(job, created)
