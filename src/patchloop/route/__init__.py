"""Routing: an intent model (MiniLM embeddings + logistic-regression head) and the plan it
shapes, a verification-gated cascade of tiers.

- :class:`IntentRouter` implements :class:`patchloop.protocols.Router`: ``plan(task)`` gives
  the model-free tier (when the intent's policy spends it), then the configured models cheapest
  first, each with its budget; ``decide(task)`` also says why. No model is loaded when the plan
  cannot depend on the intent (:func:`should_classify`).
- :func:`load_classifier` / :class:`IntentClassifier` classify texts; :func:`train_head`
  fits a new head (``patchloop route train``); heads are JSON (:class:`IntentHead`).
- :func:`fit_plan` runs a plan through the current repair loop's configuration.

Two classes implement the ``Router`` seam: :class:`IntentRouter`, which the repair loop uses,
and :class:`DefaultRouter` (every tier, global budgets).
"""

from __future__ import annotations

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
    "load_classifier",
    "load_head",
    "parse_examples",
    "plan_for",
    "read_examples",
    "route_settings",
    "should_classify",
    "train_head",
]
