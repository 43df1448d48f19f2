"""Each repair template fixes a small bug of its kind and does not break correct code."""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from patchloop.fixers.catalogue import TEMPLATES, template_names

from .helpers import (
    after,
    candidates,
    check_each,
    check_passes,
    find_fix,
    normalized,
    write_module,
)


@dataclass(frozen=True)
class Case:
    """A bug of the template's kind: ``check`` fails on ``buggy`` and passes on ``fixed``.

    ``check`` is the fixture's test suite: strong enough that any candidate the template
    proposes on the correct code fails it, except the ``equivalent`` ones (descriptions of
    candidates that cannot change what the correct code does, each with the reason).
    """

    template: str
    buggy: str
    fixed: str
    check: str
    equivalent: tuple[str, ...] = ()


CASES = [
    Case(
        "comparison",
        """
        def is_adult(age):
            return age > 18
        """,
        """
        def is_adult(age):
            return age >= 18
        """,
        "assert is_adult(18) and is_adult(30) and not is_adult(17)",
    ),
    Case(
        "boolean",
        """
        def in_range(x, lo, hi):
            return x >= lo or x <= hi
        """,
        """
        def in_range(x, lo, hi):
            return x >= lo and x <= hi
        """,
        "assert in_range(5, 1, 10) and not in_range(11, 1, 10) and not in_range(0, 1, 10)",
    ),
    Case(
        "arithmetic",
        """
        def average(xs):
            return sum(xs) // len(xs)
        """,
        """
        def average(xs):
            return sum(xs) / len(xs)
        """,
        "assert average([1, 2]) == 1.5",
    ),
    Case(
        "off_by_one",
        """
        def last(xs):
            return xs[len(xs)]
        """,
        """
        def last(xs):
            return xs[len(xs) - 1]
        """,
        "assert last([1, 2, 3]) == 3",
    ),
    Case(
        "off_by_one",
        """
        def count_to(n):
            return list(range(1, n))
        """,
        """
        def count_to(n):
            return list(range(1, n + 1))
        """,
        "assert count_to(3) == [1, 2, 3]",
    ),
    Case(
        "condition",
        """
        def first_positive(xs):
            for x in xs:
                if x > 0 and x % 2 == 0:
                    return x
            return None
        """,
        """
        def first_positive(xs):
            for x in xs:
                if x > 0:
                    return x
            return None
        """,
        "assert first_positive([-1, 3, 4]) == 3",
        # inside the loop over ``xs``, ``xs`` is never empty
        equivalent=("add 'or not xs'",),
    ),
    Case(
        "condition",
        """
        def depth(node):
            n = 0
            while True:
                if node.parent is None:
                    return n
                node = node.parent
                n += 1
        """,
        """
        def depth(node):
            n = 0
            while True:
                if node is None or node.parent is None:
                    return n
                node = node.parent
                n += 1
        """,
        """
        class Node:
            def __init__(self, parent=None):
                self.parent = parent


        root = Node()
        child = Node(root)
        assert depth(None) == 0
        assert depth(root) == 0
        assert depth(child) == 1
        assert depth(Node(child)) == 2
        """,
        # the condition already starts with ``node is None or``
        equivalent=("add 'node is None or'",),
    ),
    Case(
        "swap",
        """
        def power(base, exp):
            return pow(exp, base)
        """,
        """
        def power(base, exp):
            return pow(base, exp)
        """,
        "assert power(2, 3) == 8",
    ),
    Case(
        "calls",
        """
        def largest(xs):
            return min(xs)
        """,
        """
        def largest(xs):
            return max(xs)
        """,
        "assert largest([3, 9, 2]) == 9",
    ),
    Case(
        "calls",
        """
        def strip_trailing(line):
            return line.strip()
        """,
        """
        def strip_trailing(line):
            return line.rstrip()
        """,
        "assert strip_trailing('  a  ') == '  a'",
    ),
    Case(
        "calls",
        """
        def square(x):
            return x * x


        def cube(x):
            return x * x * x


        def volume(side):
            return square(side)
        """,
        """
        def square(x):
            return x * x


        def cube(x):
            return x * x * x


        def volume(side):
            return cube(side)
        """,
        "assert volume(2) == 8",
    ),
    Case(
        "returns",
        """
        def sort_desc(xs):
            return xs.sort(reverse=True)
        """,
        """
        def sort_desc(xs):
            xs.sort(reverse=True)
            return xs
        """,
        "assert sort_desc([1, 3, 2]) == [3, 2, 1]",
    ),
    Case(
        "exceptions",
        """
        def parse(text):
            if not text.isdigit():
                raise TypeError(text)
            return int(text)
        """,
        """
        def parse(text):
            if not text.isdigit():
                raise ValueError(text)
            return int(text)
        """,
        """
        try:
            parse("x")
        except ValueError:
            pass
        else:
            raise AssertionError("no ValueError")
        """,
    ),
    Case(
        "defaults",
        """
        def add_item(item, bucket=[]):
            bucket.append(item)
            return bucket
        """,
        """
        def add_item(item, bucket=None):
            if bucket is None:
                bucket = []
            bucket.append(item)
            return bucket
        """,
        "assert add_item(1) == [1] and add_item(2) == [2]",
    ),
    Case(
        "slices",
        """
        def split_at(xs, k):
            head = xs[:k]
            return head, xs
        """,
        """
        def split_at(xs, k):
            head = xs[:k]
            return head, xs[k:]
        """,
        "assert split_at([1, 2, 3], 1) == ([1], [2, 3])",
    ),
    Case(
        "excess",
        """
        def area(width, height):
            return width * height * 2
        """,
        """
        def area(width, height):
            return width * height
        """,
        "assert area(2, 3) == 6",
    ),
    Case(
        "literals",
        """
        def opens(char):
            return char == ")"
        """,
        """
        def opens(char):
            return char == "("
        """,
        "assert opens('(') and not opens(')')",
    ),
    Case(
        "names",
        """
        def total_price(price, qty):
            tax = 0.1
            return price * qty * (1 + price)
        """,
        """
        def total_price(price, qty):
            tax = 0.1
            return price * qty * (1 + tax)
        """,
        "assert abs(total_price(10, 2) - 22.0) < 1e-9",
    ),
    Case(
        "statements",
        """
        def normalize(xs):
            total = sum(xs)
            xs = sorted(xs)
            return [x / total for x in xs]
        """,
        """
        def normalize(xs):
            total = sum(xs)
            return [x / total for x in xs]
        """,
        "assert normalize([2, 1, 1]) == [0.5, 0.25, 0.25]",
    ),
    Case(
        "statements",
        """
        def dedupe(items):
            seen = set()
            out = []
            for item in items:
                if item not in seen:
                    out.append(item)
            return out
        """,
        """
        def dedupe(items):
            seen = set()
            out = []
            for item in items:
                if item not in seen:
                    out.append(item)
                    seen.add(item)
            return out
        """,
        "assert dedupe([1, 1, 2, 1]) == [1, 2] and dedupe([]) == [] and dedupe([3, 4]) == [3, 4]",
        equivalent=(
            # two independent statements in the other order
            "swap 'seen = set()' with the next statement",
            "swap 'out.append(item)' with the next statement",
            # adding an item to a set that already holds it, or after the loop, changes nothing
            "insert 'seen.add(item)' after 'for item in items:'",
            "insert 'seen.add(item)' after 'if item not in seen:'",
            "insert 'seen.add(item)' after 'seen.add(item)'",
        ),
    ),
    Case(
        "guards",
        """
        def mean(xs):
            return sum(xs) / len(xs)
        """,
        """
        def mean(xs):
            if not xs:
                return None
            return sum(xs) / len(xs)
        """,
        "assert mean([]) is None and mean(None) is None and mean([2, 4]) == 3",
        # a second guard behind the one the correct code has returns the same ``None``
        equivalent=(
            "guard 'if not xs: return None'",
            "guard 'if xs is None: return None'",
            "guard 'if xs is None: return xs'",
        ),
    ),
    Case(
        "graft",
        """
        def mean_deviation(xs):
            m = sum(xs) / len(xs)
            return sum(abs(x - m) for x in xs) / m
        """,
        """
        def mean_deviation(xs):
            m = sum(xs) / len(xs)
            return sum(abs(x - m) for x in xs) / len(xs)
        """,
        "assert mean_deviation([1, 5]) == 2.0 and abs(mean_deviation([2, 4, 6]) - 4 / 3) < 1e-9",
    ),
    Case(
        "guards",
        """
        def name_length(name):
            return len(name)
        """,
        """
        def name_length(name):
            if name is None:
                return 0
            return len(name)
        """,
        "assert name_length(None) == 0 and name_length('') == 0 and name_length('ab') == 2",
        # a second guard returns what the first or ``len(name)`` returns
        equivalent=("guard 'if not name: return 0'", "guard 'if name is None: return 0'"),
    ),
    Case(
        "names",
        """
        class Rect:
            def __init__(self, width, height):
                self.width = width
                self.height = height

            def area(self):
                return self.width * self.width
        """,
        """
        class Rect:
            def __init__(self, width, height):
                self.width = width
                self.height = height

            def area(self):
                return self.width * self.height
        """,
        """
        r = Rect(2, 3)
        assert r.area() == 6 and (r.width, r.height) == (2, 3)
        assert Rect(5, 1).area() == 5
        """,
    ),
    Case(
        "calls",
        """
        def shout(text):
            return text.lower() + "!"
        """,
        """
        def shout(text):
            return text.upper() + "!"
        """,
        "assert shout('Hi') == 'HI!' and shout('') == '!'",
    ),
    Case(
        "off_by_one",
        """
        def upto(xs, i):
            return xs[:i]
        """,
        """
        def upto(xs, i):
            return xs[: i + 1]
        """,
        "assert upto([1, 2, 3], 0) == [1] and upto([1, 2, 3], 1) == [1, 2]",
    ),
]


def test_every_template_has_a_case() -> None:
    assert {c.template for c in CASES} == set(template_names())


@pytest.mark.parametrize("case", CASES, ids=[f"{c.template}-{i}" for i, c in enumerate(CASES)])
def test_template_fixes_its_bug(case: Case, tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_module(project, case.buggy)
    assert not check_passes(tmp_path, textwrap.dedent(case.buggy), case.check)

    patches = candidates(project, templates=[case.template])
    fix = find_fix(patches, case.fixed)

    assert fix is not None, [p.label for p in patches]
    assert fix.label.startswith(f"{case.template}: mod.py:")
    assert check_passes(tmp_path, after(fix), case.check)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.template}-{i}" for i, c in enumerate(CASES)])
def test_template_on_correct_code_proposes_only_changes_its_tests_reject(
    case: Case, tmp_path: Path
) -> None:
    # On correct code every candidate either changes behaviour that the fixture's tests pin
    # (so verification rejects it) or is a documented equivalent: no template offers a "fix"
    # that alters correct code while its tests still pass.
    write_module(tmp_path, case.fixed)
    patches = candidates(tmp_path, templates=[case.template])
    sources = [textwrap.dedent(case.fixed), *(after(p) for p in patches)]

    correct, *verdicts = check_each(sources, case.check)

    assert correct, "the fixture's tests must pass on the correct code"
    passing = [p.label.split(" ", 2)[2] for p, ok in zip(patches, verdicts, strict=True) if ok]
    assert passing == [d for d in passing if d in case.equivalent], passing


@pytest.mark.parametrize("case", CASES, ids=[f"{c.template}-{i}" for i, c in enumerate(CASES)])
def test_every_template_leaves_correct_code_parseable(case: Case, tmp_path: Path) -> None:
    write_module(tmp_path, case.fixed)
    original = normalized(case.fixed)

    patches = candidates(tmp_path)

    assert patches  # correct code still gets candidates (the loop's tests reject them)
    dumps = [ast.dump(ast.parse(after(p))) for p in patches]
    assert original not in dumps  # no no-op
    assert len(set(dumps)) == len(dumps)  # no duplicate
    for patch in patches:
        assert patch.diff.startswith("diff --git a/mod.py b/mod.py\n")
        assert patch.label.split(":", 1)[0] in template_names()


def test_catalogue_entries_are_documented() -> None:
    assert len(TEMPLATES) == len(set(template_names()))
    for template in TEMPLATES:
        assert template.doc, template.name
        assert "Repairs" in template.doc, template.name
        assert 0 < template.prior <= 1
