"""Run a routed plan with the repair loop as it stands: express the plan as configuration.

The loop builds its tiers from the configuration (fixers first when enabled, then each model
with ``max_iterations``). A plan whose model tiers share one budget and carry no time limit is
exactly such a configuration plus a choice of models; :func:`fit_plan` finds both, and checks
that the loop would plan the same tiers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from patchloop.config import Config
from patchloop.domain import Plan, TierPlan
from patchloop.errors import UsageError
from patchloop.protocols import Model

__all__ = ["fit_plan"]

M = TypeVar("M", bound=Model)


def _refuse(what: str) -> UsageError:
    return UsageError(
        f"the repair loop cannot run this plan: {what}",
        hint="remove model_seconds/adapter or differing budgets from [route.intents]",
    )


def fit_plan(config: Config, plan: Plan, models: Sequence[M]) -> tuple[Config, list[M]]:
    """The configuration and models (a subset of ``models``, in the plan's order) under which
    the loop runs the tiers of ``plan``."""
    by_name = {m.name: m for m in models}
    fixer_tiers = [t for t in plan.tiers if t.kind == "fixers"]
    model_tiers = [t for t in plan.tiers if t.kind == "model"]
    if fixer_tiers and plan.tiers[0].kind != "fixers":
        raise _refuse("the model-free tier must come first")
    if len({t.max_iterations for t in model_tiers}) > 1:
        raise _refuse("model tiers with different max_iterations")
    if any(t.max_seconds is not None for t in model_tiers):
        raise _refuse("a model tier with its own time limit")
    if any(t.adapter is not None for t in model_tiers):
        raise _refuse("a model tier with its own adapter")
    missing = [t.name for t in model_tiers if t.name not in by_name]
    if missing:
        raise UsageError(f"the plan names models that are not given: {', '.join(missing)}")
    fixers = config.fixers.model_copy(update={"enabled": bool(fixer_tiers)})
    if fixer_tiers:
        tier = fixer_tiers[0]
        update: dict[str, object] = {"max_candidates": tier.max_iterations}
        if tier.max_seconds is not None:
            update["max_seconds"] = tier.max_seconds
        fixers = fixers.model_copy(update=update)
    changes: dict[str, object] = {
        "fixers": fixers,
        "models": tuple(t.name for t in model_tiers),
    }
    if model_tiers:
        changes["max_iterations"] = model_tiers[0].max_iterations
    fitted = config.model_copy(update=changes)
    chosen = [by_name[t.name] for t in model_tiers]
    _check_same(plan.tiers, fitted, [m.name for m in chosen])
    return fitted, chosen


def _check_same(tiers: Sequence[TierPlan], config: Config, names: Sequence[str]) -> None:
    # imported here: the planning module may itself come to import the router
    from patchloop.planning import default_plan

    unrouted = default_plan(config, names).tiers
    if tuple(tiers) != unrouted:
        raise _refuse(f"it would plan {unrouted} instead")
