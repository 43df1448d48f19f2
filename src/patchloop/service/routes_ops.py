"""Operational endpoints: the web UI page, health, readiness, metrics, SLOs."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse, Response

from patchloop.service.deps import ERRORS, Key, State
from patchloop.service.metrics import CONTENT_TYPE, render_metrics
from patchloop.service.slo import SloReport, slo_report
from patchloop.store.redact import scrub_urls

__all__ = ["router"]

router = APIRouter()

#: The page runs its own inline script and talks to this origin only.
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"
)


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
        state.queue.ping()
    except Exception as exc:  # any database failure means not ready
        reason = f"database: {scrub_urls(str(exc))}"
        return JSONResponse({"status": "unready", "reason": reason}, 503)
    supervisor = state.supervisor
    if supervisor is not None and supervisor.alive == 0:
        return JSONResponse({"status": "unready", "reason": "no worker is running"}, 503)
    alive = supervisor.alive if supervisor is not None else 0
    return JSONResponse({"status": "ready", "workers": alive})


@router.get("/metrics", tags=["ops"], response_class=Response, responses=ERRORS)
def metrics(key: Key, state: State) -> Response:
    """Prometheus text format."""
    return Response(render_metrics(state.stats, state.settings.slo), media_type=CONTENT_TYPE)


@router.get("/v1/slo", response_model=SloReport, responses=ERRORS, tags=["ops"])
def slo(key: Key, state: State) -> SloReport:
    """Each objective, its current value over the window, and its error budget."""
    return slo_report(state.stats, state.settings.slo)
