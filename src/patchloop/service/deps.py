"""What every endpoint depends on: the service state, the caller's key, shared answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse

from patchloop.service.app import ServiceState
from patchloop.service.jobs import Job
from patchloop.service.keys import ApiKey
from patchloop.service.schemas import ErrorBody, accepted

__all__ = ["ERRORS", "IdempotencyKey", "Key", "State", "accepted_response", "authenticated"]

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 422, 429)
}


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


def accepted_response(job: Job, created: bool) -> JSONResponse:
    """``202`` with the job's id and URLs (``Location``: the job)."""
    body = accepted(job, replayed=not created)
    return JSONResponse(body.model_dump(), status_code=202, headers={"Location": body.urls.self})
