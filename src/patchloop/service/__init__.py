"""The repair service: ``patchloop serve``, a thin HTTP layer over :func:`patchloop.repair`.

An API process (FastAPI) accepts repairs and verifications into a durable SQLite queue; worker
processes lease jobs, run each in a job process, stream its events back and store its result.
Needs the ``service`` extra (``pip install 'patchloop[service]'``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from patchloop.service.settings import ServiceSettings, load_service_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["ServiceSettings", "create_app", "load_service_settings"]


def create_app(settings: ServiceSettings, *, workers: bool = True) -> FastAPI:
    """The FastAPI application (see :func:`patchloop.service.app.create_app`)."""
    from patchloop.service.app import create_app as build

    return build(settings, workers=workers)
