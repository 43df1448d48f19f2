"""Test outcomes cached by node id and dependency key, so unchanged tests are not run again.

The key of a test (see :mod:`~patchloop.verify.deps`) changes whenever a file it depends on
changes, so a stored outcome is reused only for a tree on which the test would do exactly what it
did. Entries are also scoped by a ``namespace`` (interpreter, test command, options): change any
of those and nothing old is reused. Only deterministic outcomes are stored: never timeouts,
missing tests, flaky tests, rejected reports, or runs a limit or the wall clock stopped.

The cache belongs to a run's state: it lives as long as the run, and when the run ends
:meth:`ResultCache.save` writes it as ``test_cache.json`` next to the run record, where it shows
which outcomes were known for which trees; :meth:`ResultCache.load` reads such a file back. A
replay does not load it: replaying re-runs every test, so that it checks the result afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from patchloop.domain import Outcome, TestOutcome, TestReport
from patchloop.verify._report import REJECTED
from patchloop.verify.deps import TestDependencies, TreeDigest

__all__ = ["CACHEABLE", "ResultCache"]

#: Outcomes worth storing: the ones a deterministic test gives again on the same code.
CACHEABLE = frozenset(
    {
        Outcome.PASSED,
        Outcome.FAILED,
        Outcome.ERROR,
        Outcome.SKIPPED,
        Outcome.XFAILED,
        Outcome.XPASSED,
    }
)
_VERSION = 1


class ResultCache:
    """Outcomes keyed by ``namespace``, node id and dependency key; thread-safe.

    ``flaky`` node ids are never stored or served.
    """

    def __init__(
        self, deps: TestDependencies, *, namespace: str = "", flaky: Iterable[str] = ()
    ) -> None:
        self.deps = deps
        self.namespace = namespace
        self.flaky = frozenset(flaky)
        self._entries: dict[str, TestOutcome] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _key(self, nodeid: str, tree: TreeDigest) -> str:
        inner = self.deps.key(nodeid, tree)
        return hashlib.sha256(f"{self.namespace}\0{inner}".encode()).hexdigest()

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(
        self, nodeids: Sequence[str], tree: TreeDigest
    ) -> tuple[dict[str, TestOutcome], tuple[str, ...]]:
        """Stored outcomes of ``nodeids`` on ``tree``, and the node ids that must run."""
        found: dict[str, TestOutcome] = {}
        missing: list[str] = []
        with self._lock:
            for nodeid in nodeids:
                entry = None if nodeid in self.flaky else self._entries.get(self._key(nodeid, tree))
                if entry is None:
                    missing.append(nodeid)
                else:
                    found[nodeid] = entry
            self.hits += len(found)
            self.misses += len(missing)
        return found, tuple(missing)

    def store(self, report: TestReport, tree: TreeDigest) -> int:
        """Remember the deterministic outcomes of ``report``, a run on ``tree``; how many."""
        process = report.process
        if report.status != "ok" or (process is not None and (process.error or process.killed_by)):
            return 0
        stored = 0
        with self._lock:
            for outcome in report.outcomes:
                if (
                    outcome.outcome not in CACHEABLE
                    or outcome.nodeid in self.flaky
                    or outcome.message.startswith(REJECTED)
                ):
                    continue
                self._entries[self._key(outcome.nodeid, tree)] = outcome
                stored += 1
        return stored

    def save(self, path: Path) -> None:
        """Write the entries to ``path`` as JSON (atomically)."""
        with self._lock:
            data = {
                "version": _VERSION,
                "namespace": self.namespace,
                "entries": {k: v.model_dump(mode="json") for k, v in self._entries.items()},
            }
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)

    def load(self, path: Path) -> int:
        """Add the entries saved at ``path`` (same namespace only); how many were read."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return 0
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            return 0
        if data.get("namespace") != self.namespace:
            return 0
        entries = data.get("entries")
        if not isinstance(entries, dict):
            return 0
        loaded = {}
        for key, raw in entries.items():
            try:
                loaded[str(key)] = TestOutcome.model_validate(raw)
            except ValueError:
                continue
        with self._lock:
            self._entries.update(loaded)
        return len(loaded)
