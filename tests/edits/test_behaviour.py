from __future__ import annotations

import pytest

from patchloop.domain import FileChange, Patch
from patchloop.edits.behaviour import check_behaviour, same_behaviour
from patchloop.errors import CosmeticEdit, EditError

ORIGINAL = '''\
def total(items, start=0):
    """Sum of items."""
    result = start
    for item in items:
        result = result + item
    return result
'''


@pytest.mark.parametrize(
    "after",
    [
        # Annotations where there were none, and the import they need.
        ORIGINAL.replace(
            "def total(items, start=0):",
            "from typing import List\n\n\ndef total(items: List[int], start: int = 0) -> int:",
        ),
        # Comments, blank lines and quote style.
        ORIGINAL.replace("    result = start\n", "    # start from start\n\n    result = start\n"),
        ORIGINAL.replace('"""Sum of items."""', "'''Sum of items.'''"),
        # An annotated assignment in a function body is a plain assignment.
        ORIGINAL.replace("    result = start\n", "    result: int = start\n"),
        "from __future__ import annotations\nimport typing\n" + ORIGINAL,
    ],
)
def test_decorations_do_not_change_behaviour(after: str) -> None:
    assert same_behaviour(ORIGINAL, after)


@pytest.mark.parametrize(
    "after",
    [
        ORIGINAL.replace("result + item", "result - item"),
        ORIGINAL.replace("result = start\n", "result = 0\n"),
        # A renamed variable, a changed docstring (doctests read it), a dropped statement.
        ORIGINAL.replace("item", "value"),
        ORIGINAL.replace("Sum of items.", "Sum of the items."),
        ORIGINAL.replace("    return result\n", "    return\n"),
        # A runtime use of a typing name is code, not an annotation.
        "from typing import cast\n" + ORIGINAL.replace("return result", "return cast(int, result)"),
        # Text that is not Python, on either side.
        ORIGINAL + "def broken(:\n",
    ],
)
def test_changes_to_what_the_code_does_are_seen(after: str) -> None:
    assert not same_behaviour(ORIGINAL, after)


def test_annotations_the_code_had_are_code() -> None:
    # Frameworks read annotations at run time: changing or dropping one is a change.
    annotated = "def f(x: str) -> str:\n    return x\n"
    assert not same_behaviour(annotated, annotated.replace("x: str", "x: int"))
    assert not same_behaviour(annotated, "def f(x) -> str:\n    return x\n")
    assert not same_behaviour(annotated, annotated.replace("x: str)", "x: str, /)"))
    # Class-level annotations make fields (dataclasses, models): never taken out.
    fields = "class A:\n    y = 1\n"
    assert not same_behaviour(fields, "class A:\n    y: int = 1\n")


def _patch(*changes: FileChange) -> Patch:
    return Patch(changes=changes, diff="(diff)")


def test_a_patch_that_only_decorates_is_refused_with_feedback_that_says_so() -> None:
    after = "from typing import Iterable\n\n" + ORIGINAL.replace(
        "(items,", "(items: Iterable[int],"
    )
    with pytest.raises(CosmeticEdit) as caught:
        check_behaviour(_patch(FileChange(path="calc.py", before=ORIGINAL, after=after)))
    assert isinstance(caught.value, EditError)
    assert "calc.py changed only type annotations" in caught.value.feedback
    assert "Find the line whose logic causes the failure" in caught.value.feedback


def test_a_patch_with_any_real_change_passes() -> None:
    cosmetic = FileChange(path="a.py", before=ORIGINAL, after="import typing\n" + ORIGINAL)
    real = FileChange(path="b.py", before=ORIGINAL, after=ORIGINAL.replace("+ item", "* item"))
    check_behaviour(_patch(cosmetic, real))
    check_behaviour(_patch(cosmetic, FileChange(path="notes.txt", before="a\n", after="b\n")))
    check_behaviour(_patch(cosmetic, FileChange(path="new.py", before=None, after="x = 1\n")))
    check_behaviour(_patch())


def test_docstrings_count_only_when_a_failing_test_can_read_them() -> None:
    doctest = ORIGINAL.replace(
        '"""Sum of items."""', '"""Sum of items.\n\n    >>> total([1])\n    1\n    """'
    )
    undocumented = ORIGINAL.replace('    """Sum of items."""\n', "")
    for after in (doctest, undocumented):
        assert not same_behaviour(ORIGINAL, after)
        assert same_behaviour(ORIGINAL, after, docstrings=False)
    # Code is still code without docstrings.
    assert not same_behaviour(ORIGINAL, ORIGINAL.replace("+ item", "- item"), docstrings=False)
    change = FileChange(path="calc.py", before=ORIGINAL, after=doctest)
    check_behaviour(_patch(change))
    with pytest.raises(CosmeticEdit) as caught:
        check_behaviour(_patch(change), docstrings=False)
    assert "comments, docstrings or layout" in caught.value.feedback
