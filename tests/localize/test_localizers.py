import json

import pytest

from patchloop.domain import Limits, Task, TestReport
from patchloop.errors import UnknownComponent
from patchloop.localize import (
    FusedLocalizer,
    SBFLLocalizer,
    TracebackLocalizer,
    collect_coverage,
    localizers,
)

PRICING = """
from shop.util import clamp


def unit_price(base, qty):
    if qty >= 10:
        return base * 0.9
    return base


def line_total(base, qty):
    return clamp(unit_price(base, qty) * qty)


def parse_qty(text):
    return int(text.strip().split("x")[1])
"""
UTIL = """
def clamp(value):
    return max(value, 0)
"""
TESTS = """
from shop.pricing import line_total, parse_qty


def test_small_order():
    assert line_total(2.0, 3) == 6.0


def test_bulk_order():
    assert line_total(1.0, 10) == 9.5


def test_parse():
    assert parse_qty("3 x") == 3
"""


@pytest.fixture
def shop(make_repo, sandbox):
    root = make_repo(
        {
            "shop/__init__.py": "",
            "shop/pricing.py": PRICING,
            "shop/util.py": UTIL,
            "tests/test_shop.py": TESTS,
        }
    )
    cov = collect_coverage(sandbox, root, ("python", "-m", "pytest"), limits=Limits(wall_s=120))
    return root, cov


def test_traceback_localizer_uses_frames_then_called_code(shop):
    root, cov = shop
    baseline = cov.report()
    assert set(baseline.failing) == {
        "tests/test_shop.py::test_bulk_order",
        "tests/test_shop.py::test_parse",
    }
    task = Task(repo=root)
    ranked = TracebackLocalizer().localize(task, baseline, root)
    # test_parse raises inside parse_qty (a frame); test_bulk_order is a plain assertion,
    # so the code it calls comes next.
    assert [(loc.symbol, next(iter(loc.signals))) for loc in ranked] == [
        ("parse_qty", "traceback"),
        ("line_total", "calls"),
    ]
    only_bulk = Task(repo=root, tests=("tests/test_shop.py::test_bulk_order",))
    assert [loc.symbol for loc in TracebackLocalizer().localize(only_bulk, baseline, root)] == [
        "line_total"
    ]
    assert TracebackLocalizer(calls=False).localize(only_bulk, baseline, root) == []


def test_sbfl_localizer_records_coverage_through_the_sandbox(shop, sandbox):
    root, cov = shop
    task = Task(repo=root, tests=("tests/test_shop.py::test_bulk_order",))
    localizer = SBFLLocalizer(sandbox=sandbox, limits=Limits(wall_s=120))
    ranked = localizer.localize(task, cov.report(), root)
    assert localizer.coverage is not None
    assert ranked[0].symbol == "unit_price"
    assert ranked[0].signals["sbfl"] == 1.0


def test_fused_localizer_combines_frames_calls_and_spectrum(shop):
    root, cov = shop
    task = Task(repo=root, tests=("tests/test_shop.py::test_bulk_order",))
    ranked = FusedLocalizer(coverage=cov).localize(task, cov.report(), root, k=3)
    # The spectrum singles out the bulk branch; the test itself only names line_total.
    assert ranked[0].symbol in {"unit_price", "line_total"}
    assert {loc.symbol for loc in ranked[:2]} == {"unit_price", "line_total"}
    assert "sbfl_rank" in ranked[0].signals
    json.dumps([loc.model_dump() for loc in ranked])


def test_task_text_tracebacks_from_another_machine_are_mapped(shop):
    root, _ = shop
    text = """parse_qty crashes:

    Traceback (most recent call last):
      File "/home/someone/venv/lib/python3.12/site-packages/shop/pricing.py", line 15, in parse_qty
        return int(text.strip().split("x")[1])
    ValueError: invalid literal for int() with base 10: ''
    """
    ranked = FusedLocalizer().localize(Task(repo=root, description=text), TestReport(), root)
    assert ranked[0].symbol == "parse_qty"
    assert ranked[0].signals["mentions"] == 1.0


def test_task_text_naming_a_file_ranks_it(shop):
    root, _ = shop
    task = Task(repo=root, description="The tests fail; fix shop/util.py so they pass.")
    ranked = FusedLocalizer().localize(task, TestReport(), root)
    assert [(loc.path, loc.symbol) for loc in ranked] == [("shop/util.py", "")]


def test_registry_resolves_short_names_and_lists_valid_ones():
    assert localizers.resolve("fused") is FusedLocalizer
    assert localizers.resolve("traceback") is TracebackLocalizer
    assert localizers.resolve("sbfl") is SBFLLocalizer
    with pytest.raises(UnknownComponent, match="fused, sbfl, traceback"):
        localizers.resolve("magic")
