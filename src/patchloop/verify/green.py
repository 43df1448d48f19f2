"""The one rule for "this target is green", used by the repair loop and the eval judge alike.

A node id names either one reported test, or every reported test below it: the tests of a
directory (``tests/unit``), a module (``tests/test_x.py``), a class (``tests/test_x.py::TestC``)
or a parametrized function (``tests/test_x.py::test_f``). It is green when it names at least one
test and every test it names is green. A test is green when it passed. An expected failure or
an unexpected pass (xfail), or a skip, is green only where the test had that very outcome at
baseline: code under test can call ``pytest.xfail()`` or ``pytest.skip()``, and that fixes
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from patchloop.domain import Outcome, TestOutcome

__all__ = ["is_green", "named_by", "tests_named"]

#: Outcomes that stay green when unchanged since the baseline.
_TOLERATED = frozenset({Outcome.XFAILED, Outcome.XPASSED, Outcome.SKIPPED})


def named_by(selected: str, nodeid: str) -> bool:
    """Whether the node id ``selected`` names the test ``nodeid`` (itself or below it)."""
    if nodeid == selected:
        return True
    return nodeid.startswith((selected + "::", selected + "[", selected.rstrip("/") + "/"))


def tests_named(selected: str, outcomes: Mapping[str, TestOutcome]) -> list[TestOutcome]:
    """The reported tests ``selected`` names: itself when it was reported (and not missing),
    else every reported test below it."""
    found = outcomes.get(selected)
    if found is not None and found.outcome != Outcome.MISSING:
        return [found]
    return [o for k, o in outcomes.items() if k != selected and named_by(selected, k)]


def _test_green(outcome: TestOutcome, baseline: Mapping[str, TestOutcome] | None) -> bool:
    if outcome.outcome == Outcome.PASSED:
        return True
    if outcome.outcome not in _TOLERATED or baseline is None:
        return False
    before = baseline.get(outcome.nodeid)
    return before is not None and before.outcome == outcome.outcome


def is_green(
    selected: str,
    outcomes: Mapping[str, TestOutcome],
    *,
    baseline: Mapping[str, TestOutcome] | None = None,
) -> bool:
    """Whether the target ``selected`` is green in ``outcomes`` (see the module docstring).

    ``baseline`` holds the outcomes on the untouched snapshot; without it only passes count.
    """
    named = tests_named(selected, outcomes)
    return bool(named) and all(_test_green(o, baseline) for o in named)
