"""The ruff fixer on lint-class failures, the chain of fixers, and the registry."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from patchloop.domain import FileChange, Location, Patch, Task
from patchloop.edits.diff import make_patch
from patchloop.errors import UnknownComponent
from patchloop.fixers import ChainFixer, fixers, get_fixer
from patchloop.fixers.ruff import RuffFixer, find_ruff
from patchloop.fixers.template_fixer import TemplateFixer

from .helpers import after, check_passes, write_module

needs_ruff = pytest.mark.skipif(find_ruff() is None, reason="ruff is not installed")

LINT_BUG = """\
import os


def is_yes(answer):
    return answer.lower() is "yes"


def todo():
    raise NotImplemented
"""


def _ruff_patches(root: Path, **options: object) -> list[Patch]:
    fixer = RuffFixer(**options)  # type: ignore[arg-type]
    location = Location(path="mod.py", start_line=1, end_line=9)
    return list(fixer.candidates(Task(repo=root), [location], root))


@needs_ruff
def test_ruff_fixes_a_lint_class_bug_one_rule_at_a_time(tmp_path: Path) -> None:
    write_module(tmp_path, LINT_BUG)
    check = "assert is_yes(''.join(['Y', 'ES']))"
    assert not check_passes(tmp_path, LINT_BUG, check)

    patches = _ruff_patches(tmp_path)

    labels = [p.label for p in patches]
    assert labels[:3] == ["ruff: mod.py F632", "ruff: mod.py F901", "ruff: mod.py F401"]
    assert labels[-1] == "ruff: mod.py F632+F901+F401"
    first = after(patches[0])
    assert 'answer.lower() == "yes"' in first
    assert "import os" in first
    assert check_passes(tmp_path, first, check)
    assert "raise NotImplementedError" in after(patches[1])
    assert (tmp_path / "mod.py").read_text() == LINT_BUG  # the snapshot is untouched


@needs_ruff
def test_ruff_proposes_nothing_for_clean_or_unusable_files(tmp_path: Path) -> None:
    write_module(tmp_path, "def f(x):\n    return x == 1\n")
    (tmp_path / "test_mod.py").write_text("import os\n")
    fixer = RuffFixer()
    locations = [
        Location(path="mod.py", start_line=1, end_line=2),
        Location(path="test_mod.py", start_line=1, end_line=1),
        Location(path="notes.txt", start_line=1, end_line=1),
    ]

    assert list(fixer.candidates(Task(repo=tmp_path), locations, tmp_path)) == []


def test_ruff_without_an_executable_proposes_nothing(tmp_path: Path) -> None:
    write_module(tmp_path, LINT_BUG)

    assert _ruff_patches(tmp_path, executable=str(tmp_path / "no-such-ruff")) == []


class _Listed:
    """A fixer that proposes given patches (a stand-in behind the Fixer seam)."""

    def __init__(self, name: str, patches: Sequence[Patch]) -> None:
        self.name = name
        self.patches = list(patches)
        self.taken = 0

    def candidates(self, task: Task, locations: Sequence[Location], root: Path) -> Iterator[Patch]:
        for patch in self.patches:
            self.taken += 1
            yield patch


def _patch(n: int) -> Patch:
    return make_patch([FileChange(path="m.py", before="x = 0\n", after=f"x = {n}\n")], f"p{n}")


def test_chain_interleaves_and_drops_duplicate_diffs(tmp_path: Path) -> None:
    a = _Listed("a", [_patch(1), _patch(2), _patch(3)])
    b = _Listed("b", [_patch(2), _patch(4)])

    chain = ChainFixer([a, b])
    labels = [p.label for p in chain.candidates(Task(repo=tmp_path), [], tmp_path)]

    # a, b, a, b, ...: b's p2 comes second; a's own p2 later repeats it and is dropped.
    assert labels == ["p1", "p2", "p3", "p4"]
    assert (a.taken, b.taken) == (3, 2)


def test_chain_concatenates_lazily(tmp_path: Path) -> None:
    a = _Listed("a", [_patch(1), _patch(2)])
    b = _Listed("b", [_patch(3)])

    stream = ChainFixer([a, b], interleave=False).candidates(Task(repo=tmp_path), [], tmp_path)

    assert next(stream).label == "p1"
    assert (a.taken, b.taken) == (1, 0)
    assert [p.label for p in stream] == ["p2", "p3"]


def test_registry_builds_fixers_by_name() -> None:
    assert fixers.names() == ["default", "ruff", "templates"]
    assert isinstance(get_fixer("templates"), TemplateFixer)
    assert isinstance(get_fixer("ruff"), RuffFixer)
    chain = get_fixer("templates+ruff")
    assert isinstance(chain, ChainFixer)
    assert [f.name for f in chain.fixers] == ["templates", "ruff"]
    assert get_fixer("default").name == "default"
    assert isinstance(get_fixer("patchloop.fixers.template_fixer:TemplateFixer"), TemplateFixer)
    with pytest.raises(UnknownComponent, match="valid names: default, ruff, templates"):
        get_fixer("magic")


@needs_ruff
def test_default_fixer_offers_templates_and_ruff(tmp_path: Path) -> None:
    write_module(tmp_path, LINT_BUG)
    location = Location(path="mod.py", start_line=1, end_line=9)

    labels = [p.label for p in get_fixer().candidates(Task(repo=tmp_path), [location], tmp_path)]

    assert labels[1] == "ruff: mod.py F632"  # interleaved right after the first template
    assert any(label.startswith("comparison: ") for label in labels)
