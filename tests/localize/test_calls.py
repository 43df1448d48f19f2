import pytest

from patchloop.localize.calls import call_locations, split_nodeid

MATHOPS = """
def add(a, b):
    return a - b


def mul(a, b):
    return a * b


def _unused():
    return 0
"""
SHAPES = """
class Square:
    def __init__(self, side):
        self.side = side

    def area(self):
        return self.side * 4

    def perimeter(self):
        return self.side * 4
"""


@pytest.fixture
def lib(make_repo):
    def make(tests: dict[str, str]):
        return make_repo(
            {
                "pkg/__init__.py": "from .mathops import add\n",
                "pkg/mathops.py": MATHOPS,
                "pkg/shapes.py": SHAPES,
                **tests,
            }
        )

    return make


def _targets(locs):
    return [(loc.path, loc.symbol) for loc in locs]


def test_split_nodeid():
    assert split_nodeid("tests/test_a.py::TestX::test_y[1-2]") == (
        "tests/test_a.py",
        ["TestX", "test_y"],
    )
    assert split_nodeid("test_a.py") == ("test_a.py", [])


def test_a_plain_assertion_failure_points_at_the_called_function(lib):
    root = lib(
        {
            "tests/test_ops.py": """
            from pkg.mathops import add, mul


            def test_add():
                assert add(2, 3) == 5


            def test_mul():
                assert mul(2, 3) == 6
            """
        }
    )
    locs = call_locations(["tests/test_ops.py::test_add"], root)
    assert _targets(locs) == [("pkg/mathops.py", "add")]
    assert (locs[0].start_line, locs[0].end_line) == (1, 2)
    assert locs[0].signals == {"calls": 0.5}


def test_helpers_of_the_test_module_and_star_imports_are_followed(lib):
    root = lib(
        {
            "test_mathops.py": """
            from pkg.mathops import *


            def check(candidate):
                assert candidate(2, 3) == 5


            def test_add():
                check(add)
            """
        }
    )
    locs = call_locations(["test_mathops.py::test_add"], root)
    assert _targets(locs) == [("pkg/mathops.py", "add")]


def test_modules_attributes_and_reexports_resolve(lib):
    root = lib(
        {
            "tests/test_mod.py": """
            import pkg.mathops as m
            from pkg import add, mathops


            class TestOps:
                def test_all(self):
                    assert m.mul(1, 2) == 2
                    assert mathops.add(1, 1) == 2
                    assert add(0, 0) == 0
            """
        }
    )
    locs = call_locations(["tests/test_mod.py::TestOps::test_all[param]"], root)
    assert _targets(locs) == [("pkg/mathops.py", "mul"), ("pkg/mathops.py", "add")]
    assert locs[0].score > locs[1].score


def test_classes_bring_their_constructor_and_the_methods_called(lib):
    root = lib(
        {
            "test_shapes.py": """
            import pytest
            from pkg.shapes import Square


            @pytest.fixture
            def square():
                return Square(2)


            def test_area(square):
                assert square.area() == 4
            """
        }
    )
    locs = call_locations(["test_shapes.py::test_area"], root)
    assert _targets(locs) == [
        ("pkg/shapes.py", "Square"),
        ("pkg/shapes.py", "Square.__init__"),
        ("pkg/shapes.py", "Square.area"),
    ]


def test_modules_used_whole_come_after_functions(lib):
    root = lib(
        {
            "test_whole.py": """
            from pkg import mathops, shapes


            def test_names():
                assert shapes is not None
                assert mathops.mul(1, 1) == 1
            """
        }
    )
    locs = call_locations(["test_whole.py::test_names"], root)
    assert _targets(locs) == [("pkg/mathops.py", "mul"), ("pkg/shapes.py", "")]


def test_unknown_missing_and_unparsable_tests_give_nothing(lib):
    root = lib({"test_broken.py": "def test_x(:\n", "test_ok.py": "def test_y():\n    pass\n"})
    nodeids = [
        "test_broken.py::test_x",
        "test_missing.py::test_z",
        "test_ok.py::test_not_there",
        "test_ok.py::test_y",
        "",
    ]
    assert call_locations(nodeids, root) == []
