"""What a candidate patch must run: targets first, then only the regression tests it affects.

Built once from the baseline (its outcomes, per-test coverage, the flake classification), a
:class:`VerificationPlan` answers, per patch and stage, which tests need a run and which
outcomes are already known from the result cache. Flaky tests are dropped from both stages: they
never count for or against a patch. ``full_suite=True`` runs every regression test and uses no
cache.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from patchloop.domain import Patch, TestOutcome, TestReport
from patchloop.verify.cache import ResultCache
from patchloop.verify.deps import TestDependencies, TreeDigest
from patchloop.verify.flaky import FlakeReport

__all__ = ["Stage", "VerificationPlan"]


@dataclass(frozen=True)
class Stage:
    """One stage for one patch: node ids to run, and outcomes known without running."""

    run: tuple[str, ...]
    known: Mapping[str, TestOutcome] = field(default_factory=dict)

    def outcomes(self, report: TestReport | None) -> dict[str, TestOutcome]:
        """Known outcomes overlaid with those of ``report`` (the run of :attr:`run`)."""
        merged = dict(self.known)
        if report is not None:
            merged.update(report.by_id())
        return merged


class VerificationPlan:
    """Baseline knowledge deciding what each candidate runs (see the module docstring).

    ``coverage`` is per-test coverage (node id -> path -> lines) of the baseline, e.g.
    ``CoverageMap.lines``; without it every change re-runs every regression test. ``namespace``
    scopes the cache (put the interpreter, test command and options in it).
    """

    def __init__(
        self,
        template: Path,
        *,
        targets: Sequence[str],
        regressions: Sequence[str],
        flakes: FlakeReport | None = None,
        coverage: Mapping[str, Mapping[str, Sequence[int]]] | None = None,
        namespace: str = "",
        full_suite: bool = False,
        files: Sequence[str] | None = None,
    ) -> None:
        flaky = set(flakes.flaky) if flakes is not None else set()
        self.flaky = tuple(sorted(flaky))
        self.targets = tuple(t for t in targets if t not in flaky)
        self.regressions = tuple(r for r in regressions if r not in flaky)
        self.full_suite = full_suite
        self.tree = TreeDigest.from_dir(template, files)
        self.deps = TestDependencies(self.tree, coverage)
        self.cache = ResultCache(self.deps, namespace=namespace, flaky=flaky)

    def seed(self, baseline: TestReport) -> int:
        """Store the baseline's outcomes as outcomes on the untouched tree."""
        return self.cache.store(baseline, self.tree)

    def tree_for(self, patch: Patch) -> TreeDigest:
        """The tree a patch produces (only its changed files are digested)."""
        return self.tree.with_changes(patch.changes)

    def stage(self, nodeids: Sequence[str], tree: TreeDigest) -> Stage:
        """What of ``nodeids`` must run on ``tree``, and what is already known."""
        wanted = tuple(n for n in dict.fromkeys(nodeids) if n not in self.flaky)
        if self.full_suite:
            return Stage(run=wanted)
        known, missing = self.cache.lookup(wanted, tree)
        return Stage(run=missing, known=known)

    def record(self, report: TestReport, tree: TreeDigest) -> None:
        """Remember the outcomes of a run on ``tree``."""
        if not self.full_suite:
            self.cache.store(report, tree)
