"""The plan of a run: the default one (every tier), or the intent router's."""

from __future__ import annotations

import time
from collections.abc import Sequence

from patchloop.config import Config
from patchloop.domain import Plan, TierPlan
from patchloop.errors import UsageError
from patchloop.protocols import Model
from patchloop.session import RunSession

__all__ = ["NO_MODEL_HINT", "default_plan", "route"]

NO_MODEL_HINT = (
    "pass --model KIND:TARGET[#MODEL] (e.g. openai:http://127.0.0.1:8000/v1#qwen2.5-coder-7b) "
    "or set models in patchloop.toml, or enable the model-free tier (fixers.enabled = true)"
)


def default_plan(config: Config, model_names: Sequence[str]) -> Plan:
    """Fixers first (when enabled), then each model in the order given (cheapest first)."""
    tiers: list[TierPlan] = []
    if config.fixers.enabled:
        tiers.append(
            TierPlan(
                name="fixers",
                kind="fixers",
                max_iterations=config.fixers.max_candidates,
                max_seconds=config.fixers.max_seconds,
            )
        )
    tiers += [
        TierPlan(name=name, kind="model", max_iterations=config.max_iterations)
        for name in model_names
    ]
    if not tiers:
        raise UsageError(
            "no model is configured and the model-free tier is off", hint=NO_MODEL_HINT
        )
    return Plan(tiers=tuple(tiers), intent="default")


def route(run: RunSession, models: Sequence[Model]) -> Plan:
    """The plan for this task: by its intent when a router decides, else every tier."""
    from patchloop.route import IntentRouter

    t0 = time.monotonic()
    decision = IntentRouter(run.config, model_names=[m.name for m in models]).decide(run.task)
    run.spend("route", time.monotonic() - t0)
    tiers = ", ".join(t.name for t in decision.plan.tiers)
    run.emit(
        "route",
        f"intent {decision.intent} ({decision.basis}, {decision.confidence:.2f}): {tiers}",
        intent=decision.intent,
        confidence=round(decision.confidence, 4),
        basis=decision.basis,
    )
    return decision.plan
