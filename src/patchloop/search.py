"""The candidates of one iteration, judged: checked, merged, verified cheapest first, chosen.

A tier proposes one candidate or several (samples of one prompt). Each is dry-run and guarded;
candidates whose patches are the same (ignoring trailing spaces and blank lines) are merged, their
count kept as votes; then the distinct patches are verified in order of votes, then size, until
one passes the failing tests and keeps the regression tests green. That one wins. When none
does, the best partial one (fewest failing targets, then fewest failing regressions) is what the
model is shown next, with a word on how the others fared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from patchloop.domain import AttemptStatus, Feedback, Patch
from patchloop.errors import EditError, PatchloopError
from patchloop.session import RunSession, classify
from patchloop.staging import Verdict
from patchloop.tiers import Proposal

__all__ = ["Judged", "best_partial", "judge", "patch_key", "summary_feedback"]


@dataclass
class Judged:
    """What became of one candidate."""

    proposal: Proposal
    status: AttemptStatus
    feedback: Feedback | None = None
    verdict: Verdict | None = None
    error: str = ""
    votes: int = 1
    same_as: Proposal | None = None
    """The candidate whose identical patch was verified for this one."""
    reached_regressions: bool = False
    """Its patch passed every target test (it failed, if at all, on regressions)."""

    @property
    def score(self) -> tuple[int, int]:
        """Higher is closer to a fix: (reached the regression stage, minus failing tests)."""
        if self.verdict is None:
            return (-1, 0)
        return (int(self.reached_regressions), -len(self.verdict.failing))


def patch_key(patch: Patch) -> tuple[tuple[str, str | None], ...]:
    """What a patch leaves in each file, ignoring trailing spaces and blank lines."""

    def norm(text: str | None) -> str | None:
        if text is None:
            return None
        return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())

    return tuple(sorted((c.path, norm(c.after)) for c in patch.changes))


def judge(
    run: RunSession,
    proposals: Sequence[Proposal],
    *,
    fail_fast: bool,
    deadline: float | None,
) -> list[Judged]:
    """Judge every candidate; stop verifying at the first that is green."""
    judged: list[Judged] = []
    groups: dict[tuple[tuple[str, str | None], ...], list[Judged]] = {}
    for proposal in proposals:
        if proposal.error is not None:
            judged.append(_failed(proposal, proposal.error))
            continue
        try:
            patch = run.staging.check(proposal)
        except EditError as exc:
            judged.append(_failed(proposal, exc))
            continue
        entry = Judged(proposal=proposal, status="not_run")
        judged.append(entry)
        groups.setdefault(patch_key(patch), []).append(entry)
    order = sorted(
        groups.values(),
        key=lambda g: (
            -len(g),
            len(g[0].proposal.patch.diff if g[0].proposal.patch else ""),
            g[0].proposal.sample,
        ),
    )
    for members in order:
        first = members[0]
        for member in members:
            member.votes = len(members)
            member.same_as = first.proposal if member is not first else None
    workers = run.config.search.workers
    # In waves of ``workers`` distinct patches, each verified in its own sandbox copy; the
    # first green one in order wins, as if they had been verified one at a time.
    for start in range(0, len(order), workers):
        wave = order[start : start + workers]
        patches = [members[0].proposal.patch for members in wave]
        verdicts = run.staging.verify_many(
            [p for p in patches if p is not None],
            fail_fast=fail_fast,
            want_feedback=not fail_fast,
            deadline=deadline,
        )
        for members, verdict in zip(wave, verdicts, strict=True):
            _judged(run, members, verdict)
            if verdict.green:
                return judged
    return judged


def _judged(run: RunSession, members: Sequence[Judged], verdict: Verdict) -> None:
    """Give one patch's verdict to every candidate that proposed it."""
    reached = bool(verdict.failing) and not set(verdict.failing) & set(run.targets)
    for member in members:
        member.verdict = verdict
        member.reached_regressions = reached or verdict.green
        member.status = "verified" if verdict.green else "tests_failed"
        member.feedback = None if verdict.green else Feedback(kind="tests", text=verdict.feedback)


def _failed(proposal: Proposal, exc: PatchloopError) -> Judged:
    status, kind = classify(exc)
    text = (exc.feedback if isinstance(exc, EditError) else None) or str(exc)
    return Judged(
        proposal=proposal,
        status=status,
        feedback=Feedback(kind=kind, text=text),
        error=type(exc).__name__,
    )


def best_partial(judged: Sequence[Judged]) -> Judged | None:
    """The candidate to show the model next: the closest to a fix, else the first that has
    something to say (the first candidate's error)."""
    tried = [j for j in judged if j.verdict is not None]
    if tried:
        return max(tried, key=lambda j: (j.score, -j.proposal.sample))
    told = [j for j in judged if j.feedback is not None]
    return told[0] if told else None


def summary_feedback(judged: Sequence[Judged], shown: Judged) -> Feedback | None:
    """The shown candidate's feedback, with one line on the others when there were any."""
    if shown.feedback is None:
        return None
    others = [j for j in judged if j is not shown and j.same_as is not shown.proposal]
    if not others:
        return shown.feedback
    counts: dict[str, int] = {}
    for j in others:
        counts[j.status] = counts.get(j.status, 0) + 1
    said = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(counts.items()))
    text = (
        f"{shown.feedback.text.strip()}\n\n"
        f"(This was the closest of {len(judged)} candidates; the others: {said}.)"
    )
    return Feedback(kind=shown.feedback.kind, text=text)
