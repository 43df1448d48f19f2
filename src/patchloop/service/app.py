"""The FastAPI application: state, lifespan (the workers), error mapping and the body limit.

Every error answer is an :class:`~patchloop.service.schemas.ErrorBody` that says what went
wrong and what to do: errors of the tree map to their status (``UsageError`` and its kin: 422,
``ServiceError``: its own), malformed JSON to 400, schema violations to 422 naming the field.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patchloop.errors import PatchloopError, ServiceError, TooManyRequests, UsageError
from patchloop.service.backend import open_store
from patchloop.service.keys import Keys, keys_for
from patchloop.service.queue import JobQueue
from patchloop.service.ratelimit import RateLimiter
from patchloop.service.schemas import ErrorBody
from patchloop.service.settings import ServiceSettings
from patchloop.service.stats import Stats
from patchloop.service.supervisor import Supervisor

__all__ = ["ServiceState", "create_app"]


@dataclass
class ServiceState:
    """What every endpoint reaches through ``request.app.state.service``."""

    settings: ServiceSettings
    queue: JobQueue
    keys: Keys
    stats: Stats
    limiter: RateLimiter
    supervisor: Supervisor | None


def _error(status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


def _from_tree(exc: PatchloopError) -> JSONResponse:
    status = (
        exc.status if isinstance(exc, ServiceError) else 422 if isinstance(exc, UsageError) else 400
    )
    headers = {}
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(int(exc.retry_after))
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return _error(
        status, ErrorBody(error=exc.message, hint=exc.hint, kind=type(exc).__name__), headers
    )


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


def _from_validation(exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    for err in errors:
        if err.get("type") == "json_invalid":
            return _error(
                400,
                ErrorBody(
                    error=f"the body is not valid JSON: {err.get('ctx', {}).get('error', '')}",
                    hint="send a JSON object with Content-Type: application/json",
                    kind="MalformedJSON",
                ),
            )
    first = errors[0]
    field = _field(tuple(first.get("loc", ())))
    kind = first.get("type", "")
    if kind == "extra_forbidden":
        message = f"unknown field {field!r}"
    elif kind == "missing":
        message = f"missing field {field!r}"
    else:
        message = f"invalid {field!r}: {first.get('msg', 'invalid value')}"
    details = [
        {"field": _field(tuple(e.get("loc", ()))), "type": e.get("type"), "message": e.get("msg")}
        for e in errors
    ]
    return _error(
        422,
        ErrorBody(
            error=message,
            hint="see the request schema at /docs",
            kind="InvalidRequest",
            details=details,
        ),
    )


class BodyLimit:
    """Refuse bodies over ``limit`` bytes (413), by Content-Length or as they stream in."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = ErrorBody(
            error=f"the request body is over this server's limit of {self.limit} bytes",
            hint="send less (a smaller diff, fewer tests)",
            kind="PayloadTooLarge",
        )
        response = _error(413, body)
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


def create_app(settings: ServiceSettings, *, workers: bool = True) -> FastAPI:
    """The service; with ``workers``, the lifespan starts and stops the worker processes."""
    from patchloop.service import routes, routes_index, routes_ops

    store = open_store(settings)  # first: an unreachable database leaves nothing behind
    keys = keys_for(settings, store.queue)  # the same database (and connections)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    state = ServiceState(
        settings=settings,
        queue=store.queue,
        keys=keys,
        stats=store.stats,
        limiter=RateLimiter(settings.limits.rate_per_minute, settings.limits.burst),
        supervisor=Supervisor(settings, store.queue) if workers and settings.workers else None,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if state.supervisor is not None:
            await anyio.to_thread.run_sync(state.supervisor.start)
        try:
            yield
        finally:
            if state.supervisor is not None:
                await anyio.to_thread.run_sync(state.supervisor.stop)

    app = FastAPI(
        title="patchloop",
        summary="Repair and verification as a service: turn a red test suite green.",
        version="1",
        lifespan=lifespan,
    )
    app.state.service = state

    async def tree_handler(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, PatchloopError)
        return _from_tree(exc)

    async def validation_handler(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _from_validation(exc)

    app.add_exception_handler(PatchloopError, tree_handler)
    app.add_exception_handler(RequestValidationError, validation_handler)
    app.add_middleware(BodyLimit, limit=settings.limits.body_bytes)
    for module in (routes_ops, routes, routes_index):
        app.include_router(module.router)
    return app
