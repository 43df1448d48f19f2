"""The record of one run: its attempts and token usage, checkpoints, the run record."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from patchloop.domain import Attempt, AttemptStatus, Feedback, RunRecord, RunStatus, Usage
from patchloop.staging import Verdict
from patchloop.tiers import Proposal

if TYPE_CHECKING:
    from patchloop.session import RunSession

__all__ = ["Recorder"]


class Recorder:
    """Keeps the attempts and usage of one run and writes its record.

    A :class:`~patchloop.session.RunSession` composes it; the record shows the session's state
    and goes to the session's writer.
    """

    def __init__(self, run: RunSession) -> None:
        self.run = run
        self.attempts: list[Attempt] = []
        self.usage = Usage()
        self._last_checkpoint = 0.0

    def record_attempt(
        self,
        proposal: Proposal,
        *,
        iteration: int,
        status: AttemptStatus,
        feedback: Feedback | None,
        verdict: Verdict | None,
        error: str = "",
        votes: int = 1,
        same_as: int | None = None,
        failing: tuple[str, ...] | None = None,
    ) -> Attempt:
        """Turn a finished proposal into an ``Attempt``, store its files, checkpoint.

        A candidate whose patch was verified for another (``same_as``, the other's attempt
        index) carries that verdict's ``failing`` tests without a test run of its own."""
        t0 = time.monotonic()
        completion = proposal.completion
        usage = completion.usage if completion is not None else Usage()
        self.usage = self.usage + usage
        patch = proposal.patch
        attempt = Attempt(
            index=len(self.attempts) + 1,
            tier=proposal.tier,
            iteration=iteration,
            status=status,
            well_formed=proposal.well_formed,
            edits=len(proposal.edits),
            diff=patch.diff if patch is not None else "",
            paths=patch.paths if patch is not None else (),
            failing=len(failing) if failing is not None else None,
            failing_tests=failing or (),
            feedback=feedback,
            usage=usage,
            prompt_chars=sum(len(m.content) for m in proposal.messages),
            prefix_shared_chars=proposal.prefix_shared_chars,
            prefix_shared_tokens=proposal.prefix_shared_tokens,
            timings={k: round(v, 4) for k, v in proposal.timings.items()},
            sandbox_s=round(verdict.sandbox_s, 4) if verdict is not None else 0.0,
            label=proposal.label,
            error=error,
            sample=proposal.sample if proposal.completion is not None else None,
            votes=votes,
            same_as=same_as,
            edit_format=proposal.edit_format,
        )
        for phase, seconds in proposal.timings.items():
            self.run.spend(phase, seconds)
        self.attempts.append(attempt)
        if completion is not None or proposal.messages:
            self.run.writer.attempt_files(
                attempt.index,
                messages=proposal.messages,
                completion=completion,
                diff=attempt.diff,
                report=verdict.reports[-1] if verdict and verdict.reports else None,
                feedback=feedback.text if feedback else "",
            )
        self.run.emit(
            "attempt.end",
            proposal.label or status,
            attempt=attempt.index,
            tier=attempt.tier,
            status=status,
            failing=attempt.failing,
            prompt_tokens=usage.prompt_tokens,
            cached_tokens=usage.cached_tokens,
        )
        now = time.monotonic()
        # Fixer tiers try hundreds of candidates; events keep every one, the record every second.
        if completion is not None or now - self._last_checkpoint >= 1.0:
            self.checkpoint()
            self._last_checkpoint = now
        self.run.spend("record", time.monotonic() - t0)
        return attempt

    def best_attempt(self) -> Attempt | None:
        """The verified attempt, else the verified-and-failing one with the fewest failures."""
        tried = [a for a in self.attempts if a.failing is not None and a.diff]
        if not tried:
            return None
        return min(tried, key=lambda a: (a.status != "verified", a.failing, len(a.diff), a.index))

    def record(self, status: RunStatus, stop_reason: str, error: str = "") -> RunRecord:
        """The run record as it stands."""
        best = self.best_attempt()
        report = self.run.baseline_report
        return RunRecord(
            id=self.run.run_id,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            status=status,
            stop_reason=stop_reason,
            task=self.run.task,
            config=self.run.config.model_dump(mode="json"),
            snapshot=self.run.snapshot.info,
            baseline_failing=report.failing if report else (),
            baseline_passing=report.passing if report else (),
            targets=self.run.targets,
            attempts=tuple(self.attempts),
            best_attempt=best.index if best else None,
            diff=best.diff if best else "",
            usage=self.usage,
            timings={k: round(v, 4) for k, v in sorted(self.run.timings.items())},
            sandbox_s=round(self.run.sandbox_s, 4),
            wall_s=round(time.monotonic() - self.run.started, 4),
            error=error or None,
            replay_of=self.run.replay_of,
            plan=self.run.repair_plan,
            flaky=self.run.flakes.flaky if self.run.flakes else (),
            baseline_reused=self.run.baseline_reused,
        )

    def checkpoint(self) -> None:
        """Rewrite the record on disk, marked as still running."""
        self.run.writer.checkpoint(self.record("not_fixed", "running"))
