"""Configuration of routing: the ``[route]`` section and per-intent tier policies.

The sections themselves live in :mod:`patchloop.config`, with the rest of the configuration.
"""

from __future__ import annotations

from patchloop.config import Config, IntentPolicy, ModelChoice, RouteSettings

__all__ = ["IntentPolicy", "ModelChoice", "RouteSettings", "route_settings"]


def route_settings(config: Config) -> RouteSettings:
    """The ``route`` section of ``config``."""
    return config.route
