"""From configuration to tiers: the bookkeeping :mod:`patchloop.loop` delegates planning to.

One module per step, in the order a run takes them:

``models``        the run's models, built and checked before any work
``routing``       the plan: the default one (every tier), or the intent router's
``coverage``      per-test coverage of the snapshot (for spectrum-based localization)
``retrieval``     the code index the run searches
``localization``  suspicious locations: failing tests, the task text, coverage
``layout``        each model tier's prompt and edit format
``build``         the tiers of the plan, built lazily
"""

from __future__ import annotations

from patchloop.planning.build import build_tiers
from patchloop.planning.localization import NEEDS_A_FAILING_TEST, issue_context
from patchloop.planning.models import build_models
from patchloop.planning.routing import default_plan

__all__ = ["NEEDS_A_FAILING_TEST", "build_models", "build_tiers", "default_plan", "issue_context"]
