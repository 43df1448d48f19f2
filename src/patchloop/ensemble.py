"""Several models, or one model in several edit formats, asked in the same iteration.

``[search] mode = "ensemble"`` puts every model tier of the plan into one tier whose
iterations ask each model in turn and judge all their candidates together; ``[search]
formats`` asks each model in more edit formats in the same iteration. Each member keeps its own
conversation (its own replies and their feedback: a reply in another format, or another model's,
would not help it), and the record says which model and format made each candidate.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import fields

from patchloop.config import SearchSettings
from patchloop.domain import TierPlan
from patchloop.edits import get_format
from patchloop.edits.auto import AUTO
from patchloop.errors import BadOutput, ConfigError, ModelError, PatchloopError, UnknownComponent
from patchloop.tiers import ModelTier, Proposal, Tier, batch

__all__ = ["EnsembleTier", "arrange", "check_search"]

log = logging.getLogger("patchloop.ensemble")


def check_search(search: SearchSettings) -> None:
    """Refuse ``search.formats`` that name no edit format (before any work is done)."""
    for name in search.formats:
        if name == AUTO:
            raise ConfigError(
                "search.formats lists 'auto': name the formats to ask in "
                "(search-replace, json, udiff, whole)"
            )
        try:
            get_format(name)
        except UnknownComponent as exc:
            raise ConfigError(f"search.formats: {exc}") from exc


def arrange(tiers: Iterable[Tier], search: SearchSettings) -> Iterator[Tier]:
    """The plan's tiers as the search mode runs them: unchanged in a plain cascade; each model
    tier with its format variants as one tier; under ``ensemble``, every model tier (with its
    variants) as one tier, where the first model tier stood."""
    group: list[ModelTier] = []
    for tier in tiers:
        if not isinstance(tier, ModelTier):
            if group:
                yield _one(group)
                group = []
            yield tier
            continue
        members = [tier, *_variants(tier, search.formats)]
        if search.mode == "ensemble":
            group += members
        else:
            yield _one(members)
    if group:
        yield _one(group)


def _one(members: Sequence[ModelTier]) -> Tier:
    return members[0] if len(members) == 1 else EnsembleTier(members)


def _variants(tier: ModelTier, formats: Sequence[str]) -> Iterator[ModelTier]:
    """``tier``'s model asked in each further format, with the same files and budget."""
    for name in dict.fromkeys(formats):
        if name == tier.format.name:
            continue
        fmt = get_format(name)
        if name == "whole" and all(f.spans for f in tier.layout.files):
            # Only files shown whole can be rewritten whole.
            log.info("%s: no file is shown whole; not asked in the whole format", tier.name)
            continue
        yield ModelTier(
            tier.plan,
            tier.model,
            fmt,
            tier.layout.restyled(fmt.instructions()),
            tier.config,
            history=[],
            cache_key=tier.cache_key,
            allow_test_edits=tier.allow_test_edits,
            docstrings=tier.docstrings,
        )


class EnsembleTier(Tier):
    """Model tiers asked one after another in each iteration; their candidates are judged
    together. A member whose call fails sits that iteration out (a model error drops it for
    the rest of the run); only when every member fails does the iteration fail."""

    def __init__(self, members: Sequence[ModelTier]) -> None:
        self.members = list(members)
        plans = [m.plan for m in self.members]
        seconds = [p.max_seconds for p in plans]
        self.plan = TierPlan(
            name=" + ".join(dict.fromkeys(m.name for m in self.members)),
            kind="model",
            max_iterations=max(p.max_iterations for p in plans),
            max_seconds=None if None in seconds else max(s for s in seconds if s is not None),
        )
        self.added_files: list[str] = []
        self._owner: dict[int, ModelTier] = {}
        for member in self.members:
            member.history = []  # each member's own conversation

    def propose(self, draft: Proposal) -> None:
        """Ask every member; the first answer fills ``draft``, the rest become its siblings."""
        self._owner.clear()
        answered: list[tuple[ModelTier, Proposal]] = []
        failed: list[tuple[Proposal, PatchloopError]] = []
        for member in list(self.members):
            sub = Proposal(tier=member.name, deadline=draft.deadline)
            try:
                member.propose(sub)
            except PatchloopError as exc:
                failed.append((sub, exc))
                if isinstance(exc, ModelError) and not isinstance(exc, BadOutput):
                    self.members.remove(member)
                    log.warning("%s left the ensemble: %s", member.name, exc)
                else:
                    log.warning("%s: no candidate this iteration: %s", member.name, exc)
                continue
            answered.append((member, sub))
        if not answered:
            first_failed, error = failed[0]
            _fill(draft, first_failed)
            raise error
        (first_member, first), *others = answered
        _fill(draft, first)
        self._owner[id(draft)] = first_member
        for proposal in draft.siblings:
            self._owner[id(proposal)] = first_member
        for member, sub in others:
            for proposal in batch(sub):
                self._owner[id(proposal)] = member
            draft.siblings += batch(sub)
            sub.siblings = []
        for k, proposal in enumerate(batch(draft)):
            proposal.sample = k

    def observe(self, proposals: Sequence[Proposal], shown: Proposal | None) -> None:
        """Each member learns from its own candidates and is shown the closest of them (the
        iteration's closest when it is theirs)."""
        for member in self.members:
            own = [p for p in proposals if self._owner.get(id(p)) is member]
            if not own:
                continue
            mine = shown if any(p is shown for p in own) else _closest(own)
            before = len(member.added_files)
            member.observe(own, mine)
            for path in member.added_files[before:]:
                if path not in self.added_files:
                    self.added_files.append(path)


def _fill(draft: Proposal, source: Proposal) -> None:
    """Make ``draft`` (the object the loop holds) carry ``source``'s content."""
    for f in fields(Proposal):
        if f.name != "deadline":
            setattr(draft, f.name, getattr(source, f.name))


def _closest(own: Sequence[Proposal]) -> Proposal | None:
    """The member's candidate to show it: one whose tests ran, else one with feedback."""
    for kind in ("tests", None):
        for proposal in own:
            told = proposal.feedback
            usable = told is not None and proposal.completion is not None
            if usable and (kind is None or (told is not None and told.kind == kind)):
                return proposal
    return None
