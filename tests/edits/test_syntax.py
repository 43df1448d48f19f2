"""A patch that breaks the syntax of a file that compiled is refused before the tests run."""

from __future__ import annotations

import pytest

from patchloop.domain import FileChange, Patch
from patchloop.edits.syntax import check_syntax
from patchloop.errors import InvalidSyntax


def patch(*changes: FileChange) -> Patch:
    return Patch(diff="x", changes=changes)


def test_broken_python_is_refused_with_the_line() -> None:
    change = FileChange(path="a.py", before="x = 1\n", after="x = (1\ny = 2\n")
    with pytest.raises(InvalidSyntax) as caught:
        check_syntax(patch(change))
    assert "a.py: '(' was never closed at line 1:\n    x = (1" in caught.value.feedback


@pytest.mark.parametrize(
    "change",
    [
        FileChange(path="a.py", before="x = 1\n", after="x = 2\n"),
        FileChange(path="notes.txt", before="a\n", after="(((\n"),
        # Broken before: the tests decide (a newer Python's syntax, or the bug itself).
        FileChange(path="a.py", before="x = (\n", after="x = ((\n"),
        FileChange(path="gone.py", before="x = 1\n", after=None),
    ],
)
def test_other_changes_pass(change: FileChange) -> None:
    check_syntax(patch(change))


def test_a_new_python_file_must_compile() -> None:
    with pytest.raises(InvalidSyntax):
        check_syntax(patch(FileChange(path="new.py", before=None, after="def f(:\n")))


def test_lost_definitions_names_what_a_rewrite_no_longer_defines() -> None:
    from patchloop.edits.syntax import lost_definitions

    before = "import os\n\n\nclass A:\n    def m(self):\n        pass\n\n\ndef f():\n    pass\n"
    assert lost_definitions(before, "x = 1\n") == ["A", "f"]
    assert lost_definitions(before, "from elsewhere import A\n\n\ndef f():\n    pass\n") == []
    assert lost_definitions(before, "def f(:\n") == []  # does not parse: the syntax check's
    assert lost_definitions("def f(:\n", "x = 1\n") == []


def test_a_name_a_rewrite_imports_from_its_own_module_counts_as_lost() -> None:
    from patchloop.edits.syntax import lost_definitions

    before = "def rate(n):\n    return n\n"
    own = "from shop.rates import rate\n\n\ndef total(n):\n    return rate(n)\n"
    assert lost_definitions(before, own, "src/shop/rates.py") == ["rate"]
    assert lost_definitions(before, "from .rates import rate\n", "shop/rates.py") == ["rate"]
    assert lost_definitions(before, "from rates import rate\n", "rates.py") == ["rate"]
    # a same-named module elsewhere, or a package's own __init__, is another module
    assert lost_definitions(before, "from other.rates import rate\n", "shop/rates.py") == []
    assert lost_definitions(before, "from ..rates import rate\n", "shop/sub/rates.py") == []
    assert lost_definitions(before, "from .rates import rate\n", "shop/__init__.py") == []
    assert lost_definitions(before, "from shop.rates import rate\n", "shop/__init__.py") == []
    assert lost_definitions(before, own) == []  # without a path: any import binds
