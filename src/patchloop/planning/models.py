"""The models of a run, built from ``config.models`` and checked before any work."""

from __future__ import annotations

from patchloop.config import Config
from patchloop.errors import UsageError
from patchloop.protocols import Model

__all__ = ["build_models"]


def build_models(config: Config) -> list[Model]:
    """Models of ``config.models``, in order; unknown specs and unreachable servers fail here,
    before any work."""
    from patchloop.models import build_model, parse_spec

    models = []
    for spec in config.models:
        model = build_model(spec, config.model)
        target = parse_spec(spec).target
        if target.startswith(("http://", "https://")):
            _preflight(spec, target)
        models.append(model)
    return models


def _preflight(spec: str, url: str) -> None:
    """Fail fast on a server that is not listening; any HTTP answer will do."""
    import httpx

    try:
        httpx.get(url, timeout=5.0)
    except httpx.HTTPError as exc:
        raise UsageError(
            f"cannot reach the model server of {spec!r}: {type(exc).__name__}: {exc}",
            hint="start the server, or fix the URL in --model / models",
        ) from exc
