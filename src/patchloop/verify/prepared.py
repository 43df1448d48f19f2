"""One run's use of the template cache (:mod:`patchloop.verify.templates`): the key of its
repository state, and the entry it reused or kept.

A replay never opens one: replaying runs the baseline and coverage again, so that it checks
the result afresh.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from patchloop.config import Config
from patchloop.domain import TestReport
from patchloop.localize.spectrum import CoverageMap
from patchloop.verify.flaky import FlakeReport
from patchloop.verify.templates import DAY_S, Template, TemplateCache, template_key, unstorable

__all__ = ["PreparedState"]

log = logging.getLogger("patchloop.verify")


@dataclass
class PreparedState:
    """The template of one repository state, as one run sees it."""

    cache: TemplateCache
    key: str
    entry: Template | None = None
    """The entry reused or kept by this run, as it now stands."""
    reused: bool = False
    """Whether the baseline came from the cache."""

    @classmethod
    def open(cls, config: Config, *, fingerprint: str, argv: Sequence[str]) -> PreparedState | None:
        """The state of a snapshot under ``config`` (its sandbox kind resolved); ``None`` when
        ``tests.template_cache`` is unset."""
        tests = config.tests
        if not tests.template_cache:
            return None
        cache = TemplateCache(
            Path(tests.template_cache).expanduser(),
            max_age_s=tests.template_max_age_days * DAY_S,
            max_entries=tests.template_entries,
        )
        key = template_key(fingerprint=fingerprint, argv=argv, tests=tests, sandbox=config.sandbox)
        return cls(cache, key)

    def lookup(self) -> Template | None:
        """The prepared baseline of this state, if there is a usable one."""
        self.entry = self.cache.get(self.key)
        self.reused = self.entry is not None
        return self.entry

    @property
    def prepared_at(self) -> str | None:
        """When the entry's baseline ran (ISO 8601, UTC)."""
        if self.entry is None:
            return None
        when = datetime.fromtimestamp(self.entry.created_at, UTC)
        return when.isoformat(timespec="seconds")

    def keep_baseline(
        self, report: TestReport, flakes: FlakeReport, reports: Sequence[TestReport]
    ) -> None:
        """Keep a baseline this run ran (``reports``: every compared run), unless one of its
        runs did not end normally."""
        why = unstorable(reports)
        if why is not None:
            log.info("baseline not kept as a prepared state: %s", why)
            return
        self._put(Template(key=self.key, created_at=time.time(), report=report, flakes=flakes))

    def keep_coverage(self, coverage: CoverageMap | None, no_coverage: str | None) -> None:
        """Add the coverage run's answer to the entry, unless it is known already or a limit
        cut the run short."""
        entry = self.entry
        if entry is None or entry.has_coverage:
            return
        if coverage is not None:
            process = coverage.process
            if not coverage.complete or (process is not None and process.killed_by):
                return
        self._put(entry.model_copy(update={"coverage": coverage, "no_coverage": no_coverage}))

    def _put(self, entry: Template) -> None:
        if self.cache.put(entry):
            self.entry = entry
