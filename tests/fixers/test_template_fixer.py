"""The template fixer: ordering by suspiciousness, dedup, laziness, and odd inputs."""

from __future__ import annotations

import ast
import hashlib
from itertools import islice
from pathlib import Path

import pytest

from patchloop.domain import Location, Task
from patchloop.errors import UnknownComponent
from patchloop.fixers._apply import change_size
from patchloop.fixers.template_fixer import TemplateFixer, is_test_path

from .helpers import after, candidates, check_passes, find_fix, normalized, write_module

TWO_FUNCTIONS = """\
def low(a, b):
    return a < b


def high(a, b):
    return a > b
"""


def _line_of(label: str) -> int:
    """The line a candidate label names (``template: path:LINE description``)."""
    return int(label.split(":")[2].split(maxsplit=1)[0])


def test_candidates_of_the_more_suspicious_location_come_first(tmp_path: Path) -> None:
    write_module(tmp_path, TWO_FUNCTIONS)
    locations = [
        Location(path="mod.py", start_line=5, end_line=6, symbol="high", score=1.0),
        Location(path="mod.py", start_line=1, end_line=2, symbol="low", score=0.1),
    ]

    patches = candidates(tmp_path, locations, templates=["comparison"])

    lines = [_line_of(p.label) for p in patches]
    assert set(lines) == {2, 6}
    assert lines == sorted(lines, key=lambda line: line != 6)  # every line-6 candidate first


def test_swapping_the_scores_swaps_the_order(tmp_path: Path) -> None:
    write_module(tmp_path, TWO_FUNCTIONS)
    locations = [
        Location(path="mod.py", start_line=1, end_line=2, symbol="low", score=1.0),
        Location(path="mod.py", start_line=5, end_line=6, symbol="high", score=0.1),
    ]

    patches = candidates(tmp_path, locations)

    assert _line_of(patches[0].label) == 2
    assert {_line_of(p.label) for p in patches[:5]} <= {1, 2}  # all inside ``low``


def test_a_line_of_interest_ranks_its_candidates_first_inside_a_coarse_span(
    tmp_path: Path,
) -> None:
    write_module(
        tmp_path,
        """\
        def scale(xs, k):
            total = 0
            for x in xs:
                total += x * k
            return total - 1
        """,
    )
    coarse = Location(path="mod.py", start_line=1, end_line=5, score=1.0, signals={"line": 5.0})

    patches = candidates(tmp_path, [coarse], templates=["arithmetic"])

    assert _line_of(patches[0].label) == 5
    assert _line_of(patches[-1].label) == 4


def test_only_listed_locations_are_changed(tmp_path: Path) -> None:
    write_module(tmp_path, TWO_FUNCTIONS)
    only_high = [Location(path="mod.py", start_line=6, end_line=6, score=0.7)]

    patches = candidates(tmp_path, only_high)

    assert patches
    assert all(_line_of(p.label) == 6 for p in patches)
    for patch in patches:
        assert "return a < b" in after(patch)  # the other function is untouched


def test_equal_programs_are_proposed_once(tmp_path: Path) -> None:
    # ``y + 1`` -> ``y`` comes from off_by_one ("drop the +1") and from excess ("drop operand").
    write_module(tmp_path, "def f(y):\n    x = y + 1\n    return x\n")
    fixer = TemplateFixer(["off_by_one", "excess"])

    patches = list(
        fixer.candidates(
            Task(repo=tmp_path), [Location(path="mod.py", start_line=1, end_line=3)], tmp_path
        )
    )

    dumps = [normalized(after(p)) for p in patches]
    assert len(dumps) == len(set(dumps))
    assert dumps.count(normalized("def f(y):\n    x = y\n    return x\n")) == 1
    assert fixer.stats.duplicates >= 1
    assert fixer.stats.yielded == len(patches)


def test_equally_promising_alternatives_at_one_place_come_smallest_first(
    tmp_path: Path,
) -> None:
    # ``*`` -> ``+`` and ``*`` -> ``**`` are equally likely, as are dropping the slice and
    # dropping its lower bound; the template proposes the bigger change of each pair first.
    write_module(tmp_path, "def total(xs, k):\n    return sum(xs[1:]) * k\n")

    labels = [p.label for p in candidates(tmp_path, templates=["arithmetic", "slices"])]

    def index(fragment: str) -> int:
        return next(i for i, label in enumerate(labels) if fragment in label)

    assert index("'*' -> '**'") < index("'*' -> '+'")
    assert index("drop the lower bound of 'xs[1:]'") < index("drop the slice of 'xs[1:]'")


def test_ties_never_outrank_a_more_promising_candidate(tmp_path: Path) -> None:
    # Size only breaks ties: a boundary change (``<`` -> ``<=``) still comes before the equally
    # small but less likely direction change (``<`` -> ``>``).
    write_module(tmp_path, "def low(a, b):\n    return a < b\n")

    labels = [p.label for p in candidates(tmp_path, templates=["comparison"])]

    assert "'<' -> '<='" in labels[0]
    assert any("'<' -> '>'" in label for label in labels[1:])


@pytest.mark.parametrize(
    ("text", "splices", "size"),
    [
        ("a < b\n", [(2, 3, "<=")], (2, 1)),  # one line changed, one character added
        ("x * k\n", [(2, 3, "+")], (2, 2)),
        (
            "def f(s):\n    return s\n",
            [(10, 10, "    if s is None:\n        return None\n")],
            (2, 38),
        ),
        ("a = 1\nb = 2\n", [(6, 12, "")], (1, 6)),  # a deleted line
        ("f(a,\n  b)\n", [(0, 9, "f(b, a)")], (3, 10)),  # two lines become one
        ("x = y\n", [(4, 5, "y")], (0, 0)),
    ],
)
def test_change_size_counts_diff_lines_and_changed_characters(
    text: str, splices: list[tuple[int, int, str]], size: tuple[int, int]
) -> None:
    assert change_size(text, splices) == size


def test_candidates_are_produced_lazily(tmp_path: Path) -> None:
    functions = [
        f"def f{i}(xs, n):\n"
        f"    if n > {i} and xs[n - 1] < {i}:\n"
        f"        return xs[:n] + [n * {i}]\n"
        f"    return [x for x in xs if x != n]\n"
        for i in range(150)
    ]
    write_module(tmp_path, "\n\n".join(functions))
    fixer = TemplateFixer()
    lines = (tmp_path / "mod.py").read_text().count("\n")

    stream = fixer.candidates(
        Task(repo=tmp_path), [Location(path="mod.py", start_line=1, end_line=lines)], tmp_path
    )
    assert fixer.stats.mutations == 0  # nothing happens before the first request
    first = next(stream)

    assert first.diff
    assert fixer.stats.mutations > 5000  # every mutation was ranked ...
    assert fixer.stats.applied <= 3  # ... but only the first was rendered and parsed
    assert len(list(islice(stream, 9))) == 9
    assert fixer.stats.applied <= 12


def test_every_candidate_changes_one_small_region_and_parses(tmp_path: Path) -> None:
    source = write_module(
        tmp_path,
        """\
        import math


        class Shape:
            \"\"\"A shape.\"\"\"

            sides = 4

            def area(self, w, h):
                if w <= 0 or h <= 0:
                    raise ValueError("size")
                return w * h

            def diagonal(self, w, h):
                return math.sqrt(w ** 2 + h ** 2)
        """,
    ).read_text()

    patches = candidates(tmp_path)

    assert len(patches) > 30
    for patch in patches:
        ast.parse(after(patch))
        changed = [line for line in patch.diff.splitlines() if line[:1] in "+-"]
        assert len(changed) <= 2 + 6  # headers + a few lines
    assert all(patch.changes[0].before == source for patch in patches)


def test_pairs_come_after_single_mutations_when_enabled(tmp_path: Path) -> None:
    buggy = "def between(x, lo, hi):\n    return lo < x and x < hi\n"
    fixed = "def between(x, lo, hi):\n    return lo <= x and x <= hi\n"
    check = "assert between(1, 1, 2) and between(2, 1, 2) and not between(3, 1, 2)"
    write_module(tmp_path / "p", buggy)

    singles = candidates(tmp_path / "p", templates=["comparison"])
    with_pairs = candidates(tmp_path / "p", templates=["comparison"], pairs=4)

    assert find_fix(singles, fixed) is None
    fix = find_fix(with_pairs, fixed)
    assert fix is not None
    assert fix.label.startswith("pair: ")
    assert with_pairs[: len(singles)] == singles
    assert check_passes(tmp_path, after(fix), check)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.txt", "a < b\n"),
        ("broken.py", "def f(:\n    return 1\n"),
        ("test_mod.py", "def test_x():\n    assert 1 < 2\n"),
        ("conftest.py", "X = 1 < 2\n"),
        ("binary.py", None),
    ],
)
def test_unusable_files_are_skipped(tmp_path: Path, name: str, content: str | None) -> None:
    if content is None:
        (tmp_path / name).write_bytes(b"\xff\xfe\x00 x = 1 < 2\n")
    else:
        (tmp_path / name).write_text(content)
    write_module(tmp_path, "def ok(a, b):\n    return a < b\n")
    locations = [
        Location(path=name, start_line=1, end_line=2, score=1.0),
        Location(path="missing.py", start_line=1, end_line=2, score=1.0),
        Location(path="../outside.py", start_line=1, end_line=2, score=1.0),
        Location(path="mod.py", start_line=1, end_line=2, score=0.5),
    ]
    fixer = TemplateFixer()

    patches = list(fixer.candidates(Task(repo=tmp_path), locations, tmp_path))

    assert patches
    assert {p.paths for p in patches} == {("mod.py",)}
    assert fixer.stats.skipped_files == 3


def test_test_files_are_candidates_when_the_task_allows_test_edits(tmp_path: Path) -> None:
    write_module(tmp_path, "def test_x():\n    assert 1 < 2\n", name="test_mod.py")
    fixer = TemplateFixer()
    task = Task(repo=tmp_path, allow_test_edits=True)

    patches = list(
        fixer.candidates(task, [Location(path="test_mod.py", start_line=1, end_line=2)], tmp_path)
    )

    assert patches


def test_the_snapshot_is_never_written(tmp_path: Path) -> None:
    write_module(tmp_path, TWO_FUNCTIONS)
    before = hashlib.sha256((tmp_path / "mod.py").read_bytes()).hexdigest()

    patches = candidates(tmp_path, pairs=3)

    assert patches
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mod.py"]
    assert hashlib.sha256((tmp_path / "mod.py").read_bytes()).hexdigest() == before


def test_formatting_outside_the_change_is_preserved(tmp_path: Path) -> None:
    source = (
        "def f(values,   limit):  # keep this comment\n"
        "    total = (values[0] +\n"
        "             values[1])   # and this one\n"
        "    return total<limit\n"
    )
    write_module(tmp_path, source)

    patches = candidates(tmp_path, templates=["comparison"])

    assert patches[0].changes[0].after == source.replace("total<limit", "total<=limit")


def test_crlf_and_unicode_files_keep_their_bytes(tmp_path: Path) -> None:
    source = 'def greet(name):\r\n    s = "héllo " + name\r\n    return len(s) > 3\r\n'
    (tmp_path / "mod.py").write_bytes(source.encode())

    patches = candidates(tmp_path, templates=["comparison"])

    assert patches[0].changes[0].after == source.replace("> 3", ">= 3")


def test_unknown_template_names_are_listed() -> None:
    with pytest.raises(UnknownComponent, match="comparison"):
        TemplateFixer(["comparisons"])


def test_test_paths_are_recognised() -> None:
    assert is_test_path("tests/unit/helpers.py")
    assert is_test_path("pkg/test_core.py")
    assert is_test_path("pkg/core_test.py")
    assert is_test_path("conftest.py")
    assert not is_test_path("pkg/testing_utils.py")
