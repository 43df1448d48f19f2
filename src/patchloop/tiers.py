"""The two kinds of tier the loop drives: model-free fixers and a model with an edit format.

A tier turns the run's state into a :class:`Proposal` (a candidate patch, or the raw edits a
model produced) and learns from the feedback of the attempt that verified it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from patchloop.config import Config
from patchloop.context.layout import PromptLayout, Turn, render_for_prefix, shared_prefix
from patchloop.domain import (
    Completion,
    CompletionRequest,
    Edit,
    Feedback,
    Location,
    Message,
    Patch,
    Sampling,
    Task,
    TierPlan,
)
from patchloop.errors import ParseError
from patchloop.protocols import EditFormat, Fixer, Model

__all__ = ["FixerTier", "ModelTier", "Proposal", "Tier", "TierExhausted"]


class TierExhausted(Exception):
    """The tier has nothing more to propose."""


@dataclass
class Proposal:
    """A candidate from a tier, before it is applied and verified."""

    tier: str
    patch: Patch | None = None
    edits: list[Edit] = field(default_factory=list)
    completion: Completion | None = None
    messages: tuple[Message, ...] = ()
    label: str = ""
    well_formed: bool | None = None
    prefix_shared_chars: int = 0
    prefix_shared_tokens: int = 0
    timings: dict[str, float] = field(default_factory=dict)


class Tier:
    """Common shape of tiers."""

    plan: TierPlan
    fail_fast: bool = False
    """Verify candidates with early exit: cheap rejection matters more than full feedback."""

    @property
    def name(self) -> str:
        """Name used in records: ``fixers`` or the model spec."""
        return self.plan.name

    def propose(self, draft: Proposal) -> None:
        """Fill ``draft`` with the next candidate; raise ``TierExhausted`` when there is none.

        The draft is filled as work proceeds, so a failure half-way still leaves the prompt
        and completion for the record.
        """
        raise NotImplementedError

    def observe(self, proposal: Proposal, feedback: Feedback | None) -> None:
        """Learn what became of ``proposal``."""


class FixerTier(Tier):
    """Tier 0: candidates from model-free fixers, verified one by one."""

    fail_fast = True

    def __init__(
        self, plan: TierPlan, fixer: Fixer, task: Task, locations: Sequence[Location], root: Path
    ) -> None:
        self.plan = plan
        self._candidates: Iterator[Patch] = fixer.candidates(task, locations, root)

    def propose(self, draft: Proposal) -> None:
        """Next fixer candidate."""
        started = time.perf_counter()
        try:
            patch = next(self._candidates)
        except StopIteration:
            raise TierExhausted from None
        draft.patch = patch
        draft.label = patch.label
        draft.timings["generate"] = time.perf_counter() - started


class ModelTier(Tier):
    """A model asked for edits in one format, with the attempt history appended each time."""

    def __init__(
        self,
        plan: TierPlan,
        model: Model,
        edit_format: EditFormat,
        layout: PromptLayout,
        config: Config,
        *,
        history: list[Turn],
        cache_key: str,
    ) -> None:
        self.plan = plan
        self.model = model
        self.format = edit_format
        self.layout = layout
        self.config = config
        # Shared with other model tiers: a larger model sees what a smaller one tried.
        self.history = history
        self.cache_key = cache_key
        self._last_prompt = ""

    def _request(self) -> CompletionRequest:
        messages = self.layout.messages(self.history)
        caps = self.model.capabilities
        contract = self.format.contract()
        if contract is not None:
            wants_grammar = contract.json_schema is None
            usable = caps.grammar if wants_grammar else caps.constrained_output
            contract = contract if usable else None
        settings = self.config.model
        return CompletionRequest(
            messages=messages,
            contract=contract,
            sampling=Sampling(
                temperature=settings.temperature, max_tokens=settings.max_output_tokens
            ),
            adapter=self.plan.adapter or settings.adapter,
            cache_key=self.cache_key,
        )

    def propose(self, draft: Proposal) -> None:
        """Ask the model once and parse its reply into ``draft``."""
        t0 = time.perf_counter()
        request = self._request()
        rendered = render_for_prefix(request.messages)
        shared = shared_prefix(self._last_prompt, rendered) if self._last_prompt else 0
        self._last_prompt = rendered
        draft.messages = request.messages
        draft.prefix_shared_chars = shared
        draft.prefix_shared_tokens = self.model.count_tokens(rendered[:shared]) if shared else 0
        t1 = time.perf_counter()
        draft.timings["context"] = t1 - t0
        try:
            draft.completion = self.model.complete(request)
        finally:
            draft.timings["model"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        try:
            draft.edits = self.format.parse(draft.completion.text)
            draft.well_formed = True
        except ParseError:
            draft.well_formed = False
            raise
        finally:
            draft.timings["parse"] = time.perf_counter() - t2

    def observe(self, proposal: Proposal, feedback: Feedback | None) -> None:
        """Append the attempt and its feedback to the shared history."""
        if proposal.completion is None or feedback is None:
            return
        self.history.append(Turn(reply=proposal.completion.text, feedback=render_turn(feedback)))


def render_turn(feedback: Feedback) -> str:
    """The user message that follows a failed attempt (deterministic, no timings).

    Kept short: it is the part of the next prompt that is not cached. Edit errors describe
    themselves; test failures get a heading.
    """
    heading = "The patch applied, but tests still fail.\n\n" if feedback.kind == "tests" else ""
    return f"{heading}{feedback.text.strip()}\n\nReply with corrected edits to the original files."
