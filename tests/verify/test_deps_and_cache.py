"""Dependency keys, the result cache and test selection, on digests and on real coverage runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from patchloop.domain import (
    FileChange,
    Limits,
    Outcome,
    ProcessResult,
    TestOutcome,
    TestReport,
    TestSelection,
)
from patchloop.edits.diff import make_patch
from patchloop.localize.spectrum import collect_coverage
from patchloop.sandbox.bwrap import BwrapSandbox
from patchloop.verify import (
    PytestRunner,
    ResultCache,
    TestDependencies,
    TreeDigest,
    VerificationPlan,
)
from patchloop.verify.deps import digest_file

MONEY = '''\
"""Money helpers."""

RATE = 10


def percent(value, rate=RATE):
    """Share of value."""
    return value * rate // 100


class Till:
    currency = "EUR"

    def total(self, items):
        return sum(items)

    def label(self):
        return self.currency
'''

TESTS = """\
from shop.money import Till, percent


def test_percent():
    assert percent(200) == 20


def test_total():
    assert Till().total([1, 2]) == 3


def test_label():
    assert Till().label() == "EUR"
"""


def _digest(text: str) -> TreeDigest:
    return TreeDigest({"m.py": digest_file("m.py", text.encode())})


def test_bodies_and_skeleton() -> None:
    digest = digest_file("shop/money.py", MONEY.encode())
    assert sorted(digest.functions) == ["Till.label", "Till.total", "percent"]
    assert digest.function_at(7) == "percent"  # the docstring line
    assert digest.function_at(8) == "percent"
    assert digest.function_at(3) is None  # RATE = 10, module level
    assert digest.function_at(6) is None  # the def line runs at import
    same_body = digest_file(
        "shop/money.py", MONEY.replace("return sum(items)", "return sum(items or [])").encode()
    )
    assert same_body.skeleton == digest.skeleton
    assert same_body.functions["Till.total"] != digest.functions["Till.total"]
    assert same_body.functions["percent"] == digest.functions["percent"]
    moved = digest_file("shop/money.py", MONEY.replace("RATE = 10", "RATE = 20").encode())
    assert moved.skeleton != digest.skeleton
    assert moved.functions == digest.functions
    broken = digest_file("x.py", b"def (:\n")
    assert broken.skeleton == broken.whole
    data = digest_file("x.json", b"{}")
    assert data.skeleton == data.whole


def test_keys_follow_the_functions_a_test_executed() -> None:
    base = TreeDigest({"shop/money.py": digest_file("shop/money.py", MONEY.encode())})
    coverage = {"t::percent": {"shop/money.py": [8]}, "t::total": {"shop/money.py": [15]}}
    deps = TestDependencies(base, coverage)
    assert deps.functions("t::percent") == (("shop/money.py", "percent"),)
    body = FileChange(
        path="shop/money.py", before=MONEY, after=MONEY.replace("sum(items)", "sum(items) + 1")
    )
    changed = base.with_changes([body])
    assert deps.affected(["t::percent", "t::total", "t::other"], changed) == (
        "t::total",
        "t::other",
    )
    module = FileChange(path="shop/money.py", before=MONEY, after=MONEY.replace("10", "20", 1))
    assert deps.affected(["t::percent", "t::total"], base.with_changes([module])) == (
        "t::percent",
        "t::total",
    )
    data = FileChange(path="data.json", before=None, after="{}")
    assert deps.affected(["t::percent"], base.with_changes([data])) == ("t::percent",)


def _outcome_report(**outcomes: Outcome) -> TestReport:
    return TestReport(
        outcomes=tuple(TestOutcome(nodeid=n, outcome=o) for n, o in outcomes.items()),
        process=ProcessResult(argv=("pytest",), exit_code=1),
    )


def test_cache_stores_deterministic_outcomes_and_round_trips(tmp_path: Path) -> None:
    base = _digest("def f():\n    return 1\n")
    deps = TestDependencies(base, {"a": {"m.py": [2]}, "b": {"m.py": [2]}})
    cache = ResultCache(deps, namespace="py3.11 pytest", flaky=["b"])
    stored = cache.store(
        _outcome_report(a=Outcome.FAILED, b=Outcome.PASSED, c=Outcome.TIMEOUT), base
    )
    assert stored == 1  # b is flaky, a timeout is not deterministic
    found, missing = cache.lookup(["a", "b", "c"], base)
    assert found["a"].outcome == Outcome.FAILED
    assert missing == ("b", "c")
    changed = base.with_changes(
        [FileChange(path="m.py", before="", after="def f():\n    return 2\n")]
    )
    assert cache.lookup(["a"], changed) == ({}, ("a",))
    path = tmp_path / "cache.json"
    cache.save(path)
    again = ResultCache(deps, namespace="py3.11 pytest")
    assert again.load(path) == 1
    assert "a" in again.lookup(["a"], base)[0]
    other = ResultCache(deps, namespace="py3.12 pytest")
    assert other.load(path) == 0
    killed = _outcome_report(a=Outcome.PASSED).model_copy(
        update={"process": ProcessResult(argv=("x",), exit_code=-9, killed_by="output")}
    )
    assert cache.store(killed, base) == 0


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shop") / "shop_proj"
    (root / "shop").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "shop" / "__init__.py").write_text("")
    (root / "shop" / "money.py").write_text(MONEY)
    (root / "tests" / "__init__.py").write_text("")
    (root / "tests" / "test_money.py").write_text(TESTS)
    return root


def test_cached_results_are_reused_and_invalidated_with_real_coverage(
    bwrap: BwrapSandbox, shop: Path
) -> None:
    limits = Limits(wall_s=60, processes=256)
    with bwrap.workspace(shop) as ws:
        coverage = collect_coverage(
            bwrap, ws, ("python", "-m", "pytest"), limits=limits, python=sys.executable
        )
    ids = {o.nodeid.rsplit("::", 1)[1]: o.nodeid for o in coverage.outcomes}
    assert coverage.complete
    plan = VerificationPlan(
        shop, targets=[], regressions=sorted(ids.values()), coverage=coverage.lines
    )
    assert plan.seed(coverage.report()) == 3
    runner = PytestRunner(bwrap, "python -m pytest", limits=limits)

    def verify(old: str, new: str) -> tuple[tuple[str, ...], dict[str, Outcome]]:
        patch = make_patch(
            [FileChange(path="shop/money.py", before=MONEY, after=MONEY.replace(old, new))]
        )
        tree = plan.tree_for(patch)
        stage = plan.stage(plan.regressions, tree)
        report = None
        if stage.run:
            with bwrap.workspace(shop) as ws:
                (ws / "shop" / "money.py").write_text(patch.changes[0].after or "")
                report = runner.run(ws, TestSelection(nodeids=stage.run))
            plan.record(report, tree)
        return stage.run, {
            k.rsplit("::", 1)[1]: v.outcome for k, v in stage.outcomes(report).items()
        }

    # Only the test that executes the changed method runs; the others are known from baseline.
    ran, outcomes = verify("return sum(items)", "return sum(items) + 1")
    assert ran == (ids["test_total"],)
    assert outcomes == {
        "test_percent": Outcome.PASSED,
        "test_total": Outcome.FAILED,
        "test_label": Outcome.PASSED,
    }
    # The same patch again: nothing runs, the failure comes from the cache.
    ran, outcomes = verify("return sum(items)", "return sum(items) + 1")
    assert ran == ()
    assert outcomes["test_total"] == Outcome.FAILED
    # Its dependency changes (another body of the same function): the entry no longer applies.
    ran, outcomes = verify("return sum(items)", "return sum(items) - 0")
    assert ran == (ids["test_total"],)
    assert outcomes["test_total"] == Outcome.PASSED
    # Module-level code runs at import, for every test: everything runs.
    ran, _ = verify("RATE = 10", "RATE = 50")
    assert set(ran) == set(ids.values())
    assert plan.cache.hits > 0
