"""Retention of the job log: the events of long-finished jobs are deleted on a schedule.

A job's row, status, result, diff and verdict are kept; only its event log goes, and the job
records when (``events_pruned_at``), so its event stream says so instead of staying silent.
"""

from __future__ import annotations

import logging

from patchloop.service.queue import JobQueue, Pruned
from patchloop.service.settings import ServiceSettings
from patchloop.store.redact import scrub_urls

__all__ = ["DAY_S", "PRUNE_EVERY_S", "Retention", "prune_store"]

log = logging.getLogger("patchloop.service")

DAY_S = 24 * 3600.0
#: Seconds between prunes after the first one.
PRUNE_EVERY_S = 3600.0


class Retention:
    """Prunes ``queue`` at its first :meth:`tick`, then every ``every_s`` seconds."""

    def __init__(
        self, queue: JobQueue, keep_events_days: float, *, every_s: float = PRUNE_EVERY_S
    ) -> None:
        self.queue = queue
        self.keep_s = keep_events_days * DAY_S
        self.every_s = every_s
        self.next_at: float | None = None
        self.last: Pruned | None = None
        """What the latest prune removed (``None`` before the first)."""

    @property
    def enabled(self) -> bool:
        """False when events are kept forever (``keep_events_days = 0``)."""
        return self.keep_s > 0

    def tick(self, now: float) -> Pruned | None:
        """Prune when it is due (``now``: Unix time); what was removed, ``None`` otherwise.

        A failure (the database does not answer) is logged and tried again at the next
        period: retention must never stop the loop that runs it."""
        if not self.enabled or (self.next_at is not None and now < self.next_at):
            return None
        self.next_at = now + self.every_s
        try:
            pruned = self.queue.prune(self.keep_s, now)
        except Exception as exc:  # any database failure: try again next period
            log.warning("pruning the job log failed: %s", scrub_urls(str(exc)))
            return None
        self.last = pruned
        if pruned.events:
            log.info("pruned %d events of %d finished jobs", pruned.events, pruned.jobs)
        return pruned


def prune_store(settings: ServiceSettings, keep_days: float, now: float) -> Pruned:
    """Prune the store ``settings`` name once (``patchloop serve prune``): the events of jobs
    that finished more than ``keep_days`` days before ``now``."""
    from patchloop.service.backend import open_store

    queue = open_store(settings).queue
    try:
        return queue.prune(keep_days * DAY_S, now)
    finally:
        queue.close()
