"""Routing: an intent model (MiniLM embeddings + logistic-regression head) and the plan it
shapes, a verification-gated cascade of tiers.

- :class:`IntentRouter` implements :class:`patchloop.protocols.Router`: ``plan(task)`` gives
  the model-free tier (when the intent's policy spends it), then the configured models cheapest
  first, each with its budget; ``decide(task)`` also says why. No model is loaded when the plan
  cannot depend on the intent (:func:`should_classify`).
- :func:`load_classifier` / :class:`IntentClassifier` classify texts; :func:`train_head`
  fits a new head (``patchloop route train``); heads are JSON (:class:`IntentHead`).
- :func:`fit_plan` runs a plan through the current repair loop's configuration.

Routers are registered by short name: ``intent`` and ``default`` (every tier, global budgets).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from patchloop.protocols import Router
from patchloop.registry import Registry
from patchloop.route.cascade import fit_plan
from patchloop.route.classifier import IntentClassifier, Prediction, load_classifier
from patchloop.route.dataset import SHIPPED_DATA, Example, parse_examples, read_examples
from patchloop.route.head import SHIPPED_HEAD, IntentHead, load_head
from patchloop.route.intents import BUILTIN_POLICIES, INTENTS
from patchloop.route.policy import effective_policy, plan_for
from patchloop.route.router import Decision, DefaultRouter, IntentRouter, should_classify
from patchloop.route.settings import IntentPolicy, RouteSettings, route_settings
from patchloop.route.train import train_head

__all__ = [
    "BUILTIN_POLICIES",
    "INTENTS",
    "SHIPPED_DATA",
    "SHIPPED_HEAD",
    "Decision",
    "DefaultRouter",
    "Example",
    "IntentClassifier",
    "IntentHead",
    "IntentPolicy",
    "IntentRouter",
    "Prediction",
    "RouteSettings",
    "effective_policy",
    "fit_plan",
    "get_router",
    "load_classifier",
    "load_head",
    "parse_examples",
    "plan_for",
    "read_examples",
    "route_settings",
    "routers",
    "should_classify",
    "train_head",
]

routers: Registry[Callable[..., Router]] = Registry(
    "router",
    {
        "intent": "patchloop.route.router:IntentRouter",
        "default": "patchloop.route.router:DefaultRouter",
    },
)
"""Short name -> router class, built as ``cls(config, model_names=...)``."""


def get_router(name: str = "intent", /, *args: Any, **options: Any) -> Router:
    """The router registered as ``name`` (or at a dotted path), built with the arguments."""
    return routers.resolve(name)(*args, **options)
