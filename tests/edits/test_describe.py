"""Rewrites told in words: what each changed line was and became."""

from __future__ import annotations

from patchloop.domain import FileChange
from patchloop.edits.describe import describe_diff
from patchloop.edits.diff import unified_diff

OLD = "def f(a, b):\n\n    x = a + b\n    return x\n\n\ndef g():\n    return 1\n"


def _diff(path: str, old: str, new: str) -> str:
    return unified_diff([FileChange(path=path, before=old, after=new)])


def _told(new: str, old: str = OLD) -> list[str]:
    return describe_diff(_diff("m.py", old, new))


def test_a_changed_line_is_told_with_its_old_number() -> None:
    assert _told(OLD.replace("a + b", "a - b")) == ["line 3: `x = a + b` became `x = a - b`"]


def test_removed_and_added_lines() -> None:
    assert _told(OLD.replace("    return 1\n", "")) == ["removed line 8: `return 1`"]
    assert _told(OLD.replace("    x = a + b\n", "    x = a + b\n    x += 1\n")) == [
        "added after line 3: `x += 1`"
    ]
    told = _told(OLD.replace("    x = a + b\n", "    y = a\n    x = y + b\n"))
    assert told == [
        "removed line 3: `x = a + b`",
        "added after line 3: `y = a`",
        "added after line 3: `x = y + b`",
    ]


def test_blank_lines_and_trailing_spaces_change_nothing() -> None:
    assert _told(OLD.replace("\n\n    x", "\n    x")) == []
    assert _told(OLD.replace("return x\n", "return x   \n")) == []
    assert _told(OLD.replace("    x = a + b", "        x = a + b")) == [
        "line 3: `x = a + b` indented differently"
    ]


def test_several_files_are_named_and_long_lists_cut() -> None:
    diff = _diff("a.py", "x = 1\n", "x = 2\n") + _diff("b.py", "y = 1\n", "y = 3\n")
    assert describe_diff(diff) == [
        "in a.py, line 1: `x = 1` became `x = 2`",
        "in b.py, line 1: `y = 1` became `y = 3`",
    ]
    many = "".join(f"v{i} = {i}\n" for i in range(20))
    told = _told(many.replace(" = ", " == "), many)
    assert len(told) == 13
    assert told[-1] == "and 8 more changed lines"


def test_code_with_backticks_stays_inline_code() -> None:
    assert _told("s = 'a'\n", "s = '`'\n") == ["line 1: ``s = '`'`` became `s = 'a'`"]


def test_files_can_be_named_when_only_one_of_several_changed() -> None:
    diff = _diff("a.py", "x = 1\n", "x = 2\n")
    assert describe_diff(diff, name_files=True) == ["in a.py, line 1: `x = 1` became `x = 2`"]
