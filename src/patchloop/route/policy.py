"""From an intent and the configuration to a plan: ordered tiers with budgets. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from patchloop.config import Config
from patchloop.domain import Plan, TierPlan
from patchloop.errors import ConfigError, UsageError
from patchloop.route.intents import BUILTIN_POLICIES
from patchloop.route.settings import IntentPolicy, RouteSettings

__all__ = ["DEFAULT_POLICY", "effective_policy", "plan_for"]

DEFAULT_POLICY = "default"
"""Name of the policy that spends every configured tier with the global budgets."""

_CAPPED = {"max_candidates", "fixer_seconds", "max_iterations"}


def effective_policy(intent: str, settings: RouteSettings, config: Config) -> IntentPolicy:
    """The built-in policy of ``intent`` with the configured overrides laid over it.

    Built-in budgets are capped by the global ones; a value set in ``[route.intents]`` wins.
    """
    if intent == DEFAULT_POLICY:
        builtin = IntentPolicy()
    else:
        builtin = BUILTIN_POLICIES.get(intent, IntentPolicy())
    override = settings.intents.get(intent)
    chosen = override.model_fields_set if override is not None else set()
    ceilings = {
        "max_candidates": config.fixers.max_candidates,
        "fixer_seconds": config.fixers.max_seconds,
        "max_iterations": config.max_iterations,
    }
    values: dict[str, object] = {}
    for name in IntentPolicy.model_fields:
        if override is not None and name in chosen:
            values[name] = getattr(override, name)
            continue
        value = getattr(builtin, name)
        if name in _CAPPED and value is not None:
            value = min(value, ceilings[name])
        values[name] = value
    return IntentPolicy.model_validate(values)


def _select_models(intent: str, policy: IntentPolicy, names: Sequence[str]) -> list[str]:
    if not names:
        return []
    if policy.models == "all":
        return list(names)
    if policy.models == "cheapest":
        return [names[0]]
    if policy.models == "largest":
        return [names[-1]]
    wanted = set(policy.models)
    # configured order is cheapest first, so it is kept whatever order the policy lists
    chosen = [name for name in names if name in wanted]
    if not chosen:
        raise ConfigError(
            f"route.intents.{intent}.models names no configured model: {list(policy.models)}",
            hint=f"configured models: {', '.join(names)}; or use all, cheapest or largest",
        )
    return chosen


def plan_for(
    intent: str,
    config: Config,
    model_names: Sequence[str],
    settings: RouteSettings,
    *,
    policy_name: str | None = None,
    confidence: float = 1.0,
) -> Plan:
    """The plan for a task of ``intent`` shaped by the policy named ``policy_name`` (default:
    the intent's own): the model-free tier (if the policy and ``fixers.enabled`` allow it),
    then the chosen models cheapest first, each with its budget."""
    policy = effective_policy(policy_name or intent, settings, config)
    tiers: list[TierPlan] = []
    use_fixers = config.fixers.enabled and policy.fixers is not False
    if use_fixers:
        tiers.append(
            TierPlan(
                name="fixers",
                kind="fixers",
                max_iterations=(
                    policy.max_candidates
                    if policy.max_candidates is not None
                    else config.fixers.max_candidates
                ),
                max_seconds=policy.fixer_seconds or config.fixers.max_seconds,
            )
        )
    iterations = (
        policy.max_iterations if policy.max_iterations is not None else config.max_iterations
    )
    for name in _select_models(policy_name or intent, policy, model_names):
        tiers.append(
            TierPlan(
                name=name,
                kind="model",
                max_iterations=iterations,
                max_seconds=policy.model_seconds,
                adapter=policy.adapter,
            )
        )
    if not tiers:
        raise UsageError(
            f"the plan for a {intent} task has no tier: no model is configured and the "
            "model-free tier is off",
            hint="pass --model KIND:TARGET[#MODEL], or enable fixers (fixers.enabled = true, "
            f"route.intents.{intent}.fixers = true)",
        )
    return Plan(tiers=tuple(tiers), intent=intent, confidence=round(confidence, 4))
