from pathlib import Path

from patchloop.domain import Frame, Outcome, TestOutcome, TestReport
from patchloop.localize.frames import frame_locations

CART = """
from pkg.util import round_money


class Cart:
    def __init__(self, items):
        self.items = items

    def total(self):
        raw = sum(self.items)
        return round_money(raw)
"""
UTIL = """
def round_money(value):
    cents = value * 100
    return int(cents) / 0
"""


def _report(*stacks: tuple[Frame, ...], passing: int = 0) -> TestReport:
    outcomes = [
        TestOutcome(nodeid=f"tests/test_cart.py::test_{i}", outcome=Outcome.FAILED, frames=s)
        for i, s in enumerate(stacks)
    ]
    outcomes += [
        TestOutcome(nodeid=f"tests/test_cart.py::test_ok{i}", outcome=Outcome.PASSED)
        for i in range(passing)
    ]
    return TestReport(outcomes=tuple(outcomes))


def _stack() -> tuple[Frame, ...]:
    return (
        Frame(path="tests/test_cart.py", line=4, function="test_total", in_repo=True),
        Frame(path="pkg/cart.py", line=10, function="total", in_repo=True),
        Frame(path="pkg/util.py", line=3, function="round_money", in_repo=True),
    )


def test_frames_map_to_enclosing_functions_deepest_first(make_repo):
    root = make_repo({"pkg/__init__.py": "", "pkg/cart.py": CART, "pkg/util.py": UTIL})
    locs = frame_locations(_report(_stack(), passing=2), root)
    assert [(loc.path, loc.symbol) for loc in locs] == [
        ("pkg/util.py", "round_money"),
        ("pkg/cart.py", "Cart.total"),
    ]
    util, cart = locs
    assert (util.start_line, util.end_line) == (1, 3)
    assert (cart.start_line, cart.end_line) == (8, 10)
    assert util.score == 1.0
    assert cart.score == 0.5
    assert util.signals == {"traceback": 1.0}


def test_test_files_conftest_and_installed_code_are_excluded(make_repo):
    root = make_repo(
        {
            "pkg/__init__.py": "",
            "pkg/util.py": UTIL,
            "conftest.py": "def fixture():\n    return 1\n",
            "tests/helpers.py": "def helper():\n    return 1\n",
            "test_top.py": "def test_x():\n    assert 0\n",
            "pkg/thing_test.py": "def check():\n    assert 0\n",
        }
    )
    stack = (
        Frame(path="conftest.py", line=2, function="fixture", in_repo=True),
        Frame(path="pkg/util.py", line=3, function="round_money", in_repo=True),
        Frame(path="tests/helpers.py", line=2, function="helper", in_repo=True),
        Frame(path="test_top.py", line=2, function="test_x", in_repo=True),
        Frame(path="pkg/thing_test.py", line=2, function="check", in_repo=True),
        Frame(path=".venv/lib/python3.11/site-packages/x.py", line=5, in_repo=True),
        Frame(path="/usr/lib/python3.11/json/decoder.py", line=337, in_repo=False),
    )
    locs = frame_locations(_report(stack), root)
    assert [(loc.path, loc.symbol) for loc in locs] == [("pkg/util.py", "round_money")]


def test_only_test_file_frames_give_nothing(make_repo):
    root = make_repo(
        {"pkg/util.py": UTIL, "tests/test_cart.py": "def test_total():\n    assert 0\n"}
    )
    stack = (Frame(path="tests/test_cart.py", line=2, function="test_total", in_repo=True),)
    assert frame_locations(_report(stack), root) == []


def test_missing_files_syntax_errors_and_non_python_frames(make_repo):
    root = make_repo({"pkg/broken.py": "x = 1\ndef f(:\n    pass\n", "pkg/util.py": UTIL})
    stack = (
        Frame(path="pkg/util.py", line=3, function="round_money", in_repo=True),
        Frame(path="pkg/deleted.py", line=7, function="gone", in_repo=True),
        Frame(path="pkg/broken.py", line=1, function="<module>", in_repo=True),
        Frame(path="<string>", line=1, function="<module>", in_repo=False),
        Frame(path="pkg/native.c", line=12, function="c_func", in_repo=True),
        Frame(path="pkg/util.py", line=0, function="round_money", in_repo=True),
    )
    locs = frame_locations(_report(stack), root)
    # The unparsable file is still a place: its line, without a symbol.
    assert [(loc.path, loc.symbol, loc.start_line) for loc in locs] == [
        ("pkg/broken.py", "", 1),
        ("pkg/util.py", "round_money", 1),
    ]
    # Frames that cannot be located do not push their callers down.
    assert [loc.score for loc in locs] == [1.0, 0.5]


def test_absolute_paths_under_the_root_count_as_repository_frames(make_repo):
    root = make_repo({"pkg/util.py": UTIL})
    stack = (Frame(path=str(root / "pkg/util.py"), line=3, function="round_money"),)
    locs = frame_locations(_report(stack), root)
    assert [(loc.path, loc.symbol) for loc in locs] == [("pkg/util.py", "round_money")]


def test_functions_on_every_failing_stack_rank_first(make_repo):
    root = make_repo({"pkg/__init__.py": "", "pkg/cart.py": CART, "pkg/util.py": UTIL})
    only_cart = (Frame(path="pkg/cart.py", line=10, function="total", in_repo=True),)
    locs = frame_locations(_report(_stack(), only_cart, only_cart), root)
    assert [loc.symbol for loc in locs] == ["Cart.total", "round_money"]
    assert locs[0].score == round((0.5 + 1 + 1) / 3, 6)


def test_recursion_counts_the_deepest_occurrence_once(make_repo):
    root = make_repo({"pkg/__init__.py": "", "pkg/cart.py": CART, "pkg/util.py": UTIL})
    caller = Frame(path="pkg/cart.py", line=10, function="total", in_repo=True)
    frame = Frame(path="pkg/util.py", line=3, function="round_money", in_repo=True)
    locs = frame_locations(_report((caller, frame, frame, frame)), root)
    assert [(loc.symbol, loc.score) for loc in locs] == [("round_money", 1.0), ("Cart.total", 0.5)]


def test_nodeids_restrict_the_tests_considered(make_repo):
    root = make_repo({"pkg/__init__.py": "", "pkg/cart.py": CART, "pkg/util.py": UTIL})
    only_cart = (Frame(path="pkg/cart.py", line=10, function="total", in_repo=True),)
    report = _report(_stack(), only_cart)
    locs = frame_locations(report, root, ["tests/test_cart.py::test_1"])
    assert [loc.symbol for loc in locs] == ["Cart.total"]


def test_an_empty_report_gives_nothing(tmp_path: Path):
    assert frame_locations(TestReport(), tmp_path) == []
