"""The intent router: classify the task, then plan tiers by the intent's policy."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from patchloop.config import Config
from patchloop.domain import Plan, Task
from patchloop.route.classifier import IntentClassifier, load_classifier, missing_packages
from patchloop.route.intents import RULE_INTENT
from patchloop.route.policy import DEFAULT_POLICY, plan_for
from patchloop.route.settings import RouteSettings, route_settings

__all__ = ["Decision", "DefaultRouter", "IntentRouter", "should_classify"]

Basis = Literal["model", "low_confidence", "no_description", "no_models", "disabled", "unavailable"]


class Decision(BaseModel):
    """A plan and why it was chosen."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    plan: Plan
    intent: str
    confidence: float
    basis: Basis
    """``model``: the intent model decided; ``low_confidence``: it was unsure, every tier is
    planned; ``unavailable``: the embedding packages are not installed, every tier is planned;
    otherwise the reason no model was needed."""
    policy: str
    """The intent whose policy shaped the plan, or ``default`` (every tier, global budgets)."""
    probabilities: dict[str, float] = Field(default_factory=dict)
    seconds: float = 0.0
    """Time to classify (excluding loading the model)."""
    note: str = ""
    """Why the model could not be consulted, when it could not."""


def should_classify(config: Config, task: Task, model_names: Sequence[str]) -> bool:
    """Whether the plan depends on the intent: routing is on, there is a description, and at
    least one model tier exists. Otherwise no model is loaded at all."""
    settings = route_settings(config)
    return settings.enabled and bool(model_names) and bool(task.description.strip())


class IntentRouter:
    """:class:`~patchloop.protocols.Router` that plans by the task's intent.

    ``model_names`` are the model specs that will run, cheapest first (default:
    ``config.models``). The classifier is loaded on the first task that needs it.
    """

    def __init__(
        self,
        config: Config,
        *,
        model_names: Sequence[str] | None = None,
        settings: RouteSettings | None = None,
        classifier: IntentClassifier | None = None,
    ) -> None:
        self.config = config
        self.model_names = tuple(config.models if model_names is None else model_names)
        self.settings = settings or route_settings(config)
        self._classifier = classifier

    @property
    def classifier(self) -> IntentClassifier:
        """The intent classifier (loaded now if it was not yet)."""
        if self._classifier is None:
            self._classifier = load_classifier(self.settings)
        return self._classifier

    def _plan(
        self, intent: str, policy: str, confidence: float, settings: RouteSettings | None = None
    ) -> Plan:
        return plan_for(
            intent,
            self.config,
            self.model_names,
            settings or self.settings,
            policy_name=policy,
            confidence=confidence,
        )

    def decide(self, task: Task, *, explain: bool = False) -> Decision:
        """The plan for ``task`` with its intent, confidence and the reason for both.

        With ``explain``, a task whose plan does not depend on its intent (no model tier) is
        still classified so its intent can be shown; the plan stays the unrouted one.
        """
        # Routing off, or only the model-free tier configured (which runs whatever the
        # intent): exactly the unrouted plan, so no override can leave the run without a tier.
        if not self.settings.enabled:
            return self._fixed(DEFAULT_POLICY, "disabled", RouteSettings())
        if not self.model_names:
            fixed = self._fixed(DEFAULT_POLICY, "no_models", RouteSettings())
            return self._explained(fixed, task) if explain else fixed
        if not task.description.strip():
            return self._fixed(RULE_INTENT, "no_description")
        if self._classifier is None and (missing := missing_packages(self.settings.backend)):
            # routing is an optimisation: without its packages the run spends every tier
            decision = self._fixed(DEFAULT_POLICY, "unavailable", RouteSettings())
            note = f"intent model not installed (missing: {', '.join(missing)})"
            return decision.model_copy(update={"note": note})
        classifier = self.classifier  # loading is not part of the decision's time
        started = time.perf_counter()
        prediction = classifier.classify(task.description)
        seconds = time.perf_counter() - started
        sure = prediction.confidence >= self.settings.min_confidence
        policy = prediction.intent if sure else DEFAULT_POLICY
        return Decision(
            plan=self._plan(prediction.intent, policy, prediction.confidence),
            intent=prediction.intent,
            confidence=prediction.confidence,
            basis="model" if sure else "low_confidence",
            policy=policy,
            probabilities=prediction.probabilities,
            seconds=seconds,
        )

    def _explained(self, decision: Decision, task: Task) -> Decision:
        """``decision`` with the intent the model sees in ``task`` (for display only)."""
        if not task.description.strip():
            return decision
        if self._classifier is None and (missing := missing_packages(self.settings.backend)):
            note = f"intent model not installed (missing: {', '.join(missing)})"
            return decision.model_copy(update={"note": note})
        classifier = self.classifier
        started = time.perf_counter()
        prediction = classifier.classify(task.description)
        return decision.model_copy(
            update={
                "intent": prediction.intent,
                "confidence": prediction.confidence,
                "probabilities": prediction.probabilities,
                "seconds": time.perf_counter() - started,
                "note": "no model configured: only the model-free tier runs, whatever the intent",
            }
        )

    def _fixed(self, intent: str, basis: Basis, settings: RouteSettings | None = None) -> Decision:
        return Decision(
            plan=self._plan(intent, intent, 1.0, settings),
            intent=intent,
            confidence=1.0,
            basis=basis,
            policy=intent,
        )

    def plan(self, task: Task) -> Plan:
        """Ordered tiers with budgets for ``task`` (the ``Router`` seam)."""
        return self.decide(task).plan


class DefaultRouter:
    """:class:`~patchloop.protocols.Router` that plans every tier with the global budgets."""

    def __init__(self, config: Config, *, model_names: Sequence[str] | None = None) -> None:
        self.config = config
        self.model_names = tuple(config.models if model_names is None else model_names)

    def plan(self, task: Task) -> Plan:
        """Fixers (when enabled), then every model, cheapest first."""
        del task
        return plan_for(
            DEFAULT_POLICY, self.config, self.model_names, RouteSettings(), confidence=1.0
        )
