"""Prepared repository states: the baseline of a snapshot (its k runs and their flake
classification) and its per-test coverage, kept so that a later run of the same state reuses
them instead of running the suite again.

An entry is keyed by everything that decides those outcomes (:func:`template_key`): the
snapshot's fingerprint, the test command, the interpreter and the installed distributions,
the test and sandbox settings, and patchloop's version. Change any of them and nothing old is
used. Only baselines whose every run ended normally are kept: never one with a timeout, no
report, a rejected report, or a run a limit or the wall clock stopped.

One JSON file per key, written atomically and read with a size bound; an entry that is
corrupt, truncated, too large, of another version or too old is ignored (logged), never an
error. The directory keeps the newest ``max_entries`` files.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from patchloop.config import SandboxSettings, TestSettings
from patchloop.domain import Outcome, TestReport
from patchloop.localize.spectrum import CoverageMap
from patchloop.verify._report import REJECTED
from patchloop.verify.flaky import FlakeReport

__all__ = [
    "OUTCOME_SETTINGS",
    "Template",
    "TemplateCache",
    "installed_digest",
    "template_key",
    "unstorable",
]

log = logging.getLogger("patchloop.verify")

VERSION: Final = 1
#: Test settings that change what the baseline and coverage runs find.
OUTCOME_SETTINGS = frozenset(
    {
        "timeout",
        "per_test_timeout",
        "flake_runs",
        "plugin_autoload",
        "plugins",
        "full_suite",
        "output_bytes",
        "warm",
    }
)
DAY_S = 86_400.0


class Template(BaseModel):
    """One prepared repository state."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = VERSION
    key: str
    created_at: float
    """Unix time the baseline ran."""
    report: TestReport
    """The first baseline run: targets and regressions come from it."""
    flakes: FlakeReport
    coverage: CoverageMap | None = None
    no_coverage: str | None = None
    """Why the coverage run found none; with ``coverage`` also ``None``: not recorded yet."""

    @property
    def has_coverage(self) -> bool:
        """Whether the coverage run's answer (a map, or why there is none) is known."""
        return self.coverage is not None or self.no_coverage is not None


@functools.cache
def installed_digest() -> str:
    """Digest of ``name==version`` of every distribution this interpreter sees."""
    found = {_name_version(dist) for dist in metadata.distributions()}
    return hashlib.sha256("\n".join(sorted(found)).encode()).hexdigest()


def _name_version(dist: metadata.Distribution) -> str:
    # The header lines only: parsing whole metadata files costs ten times as much.
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    fields = dict(
        line.split(":", 1) for line in text.split("\n\n", 1)[0].splitlines() if ":" in line
    )
    return f"{fields.get('Name', '').strip().lower()}=={fields.get('Version', '').strip()}"


def template_key(
    *,
    fingerprint: str,
    argv: Sequence[str],
    tests: TestSettings,
    sandbox: SandboxSettings,
    python: str = sys.executable,
    environment: str | None = None,
) -> str:
    """The key of a repository state: ``sandbox`` must name the kind that actually runs."""
    from patchloop import __version__

    parts = {
        "format": VERSION,
        "patchloop": __version__,
        "fingerprint": fingerprint,
        "argv": list(argv),
        "python": [python, sys.version],
        "environment": environment if environment is not None else installed_digest(),
        "tests": tests.model_dump(mode="json", include=set(OUTCOME_SETTINGS)),
        "sandbox": sandbox.model_dump(mode="json"),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def unstorable(reports: Sequence[TestReport]) -> str | None:
    """Why baseline runs must not be kept (``None`` when they may): not every run ended on its
    own with a trustworthy report."""
    for report in reports:
        process = report.process
        if report.status != "ok":
            return f"a baseline run ended with status {report.status}"
        if process is not None and (process.error or process.killed_by):
            return f"a baseline run was stopped ({process.killed_by or process.error})"
        for outcome in report.outcomes:
            if outcome.outcome == Outcome.TIMEOUT or outcome.message.startswith(REJECTED):
                return f"{outcome.nodeid} timed out or its report was rejected"
    return None


class TemplateCache:
    """Prepared states under ``directory``, one ``<key>.json`` each."""

    def __init__(
        self,
        directory: Path,
        *,
        max_age_s: float = 7 * DAY_S,
        max_entries: int = 200,
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.directory = directory
        self.max_age_s = max_age_s
        self.max_entries = max_entries
        self.max_bytes = max_bytes

    def path(self, key: str) -> Path:
        """Where the entry of ``key`` lives."""
        return self.directory / f"{key}.json"

    def get(self, key: str, *, now: float | None = None) -> Template | None:
        """The usable entry of ``key``, or ``None`` (missing, unreadable or too old)."""
        path = self.path(key)
        try:
            with path.open("rb") as file:
                data = file.read(self.max_bytes + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("prepared state %s ignored: %s", path, exc)
            return None
        if len(data) > self.max_bytes:
            log.warning("prepared state %s ignored: larger than %d bytes", path, self.max_bytes)
            return None
        try:
            entry = Template.model_validate_json(data)
        except ValidationError as exc:
            log.warning("prepared state %s ignored: not a valid entry (%s)", path, exc)
            return None
        age = (time.time() if now is None else now) - entry.created_at
        if entry.key != key or not 0 <= age <= self.max_age_s:
            log.info("prepared state %s ignored: another key or %.0f s old", path, age)
            return None
        return entry

    def put(self, entry: Template) -> bool:
        """Write ``entry`` (atomically) and drop the oldest past the bound; whether it was."""
        data = entry.model_dump_json().encode()
        if len(data) > self.max_bytes:
            log.warning("prepared state not kept: larger than %d bytes", self.max_bytes)
            return False
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(data)
                os.replace(tmp, self.path(entry.key))
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            log.warning("prepared state not kept in %s: %s", self.directory, exc)
            return False
        self._evict()
        return True

    def _evict(self) -> None:
        found: list[tuple[float, Path]] = []
        for path in self.directory.glob("*.json"):
            try:
                found.append((path.stat().st_mtime, path))
            except OSError:
                continue  # another process removed it
        found.sort(reverse=True)
        for _, path in found[self.max_entries :]:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
