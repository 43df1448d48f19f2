"""The tiers of a run, built lazily from its plan: a later tier costs nothing if an earlier one
wins."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from patchloop.context.layout import Turn
from patchloop.domain import Plan
from patchloop.planning.layout import layout_for
from patchloop.planning.localization import localize, suspicious_lines
from patchloop.planning.routing import route
from patchloop.protocols import Model
from patchloop.session import RunSession
from patchloop.tiers import FixerTier, ModelTier, Tier
from patchloop.verify.nodeids import reads_docstrings

__all__ = ["FIXER", "build_tiers"]

#: The registered fixer (:data:`patchloop.fixers.fixers`) of the model-free tier: every fixer
#: chained.
FIXER = "default"


def build_tiers(
    run: RunSession, models: Sequence[Model], plan: Plan | None = None
) -> Iterator[Tier]:
    """Tiers of the plan, built lazily: a later tier costs nothing if an earlier one wins."""
    run.repair_plan = plan or route(run, models)
    if not run.repair_plan.tiers:
        return
    locations = localize(run)
    by_name = {m.name: m for m in models}
    history: list[Turn] = []
    for tier_plan in run.repair_plan.tiers:
        if tier_plan.kind == "fixers":
            from patchloop.fixers import get_fixer

            fixer = get_fixer(FIXER)
            spots = [*locations, *suspicious_lines(run)]
            yield FixerTier(tier_plan, fixer, run.task, spots, run.snapshot.template)
            continue
        model = by_name[tier_plan.name]
        layout, edit_format = layout_for(run, model, locations)
        yield ModelTier(
            tier_plan,
            model,
            edit_format,
            layout,
            run.config,
            history=history,
            cache_key=run.run_id,
            allow_test_edits=run.task.allow_test_edits,
            docstrings=reads_docstrings(run.targets),
        )
