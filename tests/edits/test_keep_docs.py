"""Whole-file rewrites keep the documentation they dropped at the ends of a Python file."""

from __future__ import annotations

from pathlib import Path

from patchloop.domain import Edit
from patchloop.edits.apply import apply_edits
from patchloop.edits.keep_docs import restore_dropped_docs

TRAILING = '''
def count(n):
    total = 0
    while n:
        n ^= n - 1
        total += 1
    return total


"""
Count
Input: a nonnegative int
"""
'''

LEADING = '''#!/usr/bin/env python3
"""Tools for counting."""

import math


def root(x):
    return math.sqrt(x)
'''


def test_trailing_docstring_dropped_by_a_rewrite_comes_back() -> None:
    rewrite = "\ndef count(n):\n    total = 0\n    while n:\n        n &= n - 1\n" + (
        "        total += 1\n    return total\n"
    )
    out = restore_dropped_docs(TRAILING, rewrite)
    assert "n &= n - 1" in out
    assert out.endswith('"""\nCount\nInput: a nonnegative int\n"""\n')
    assert out.count("return total") == 1


def test_unchanged_code_without_its_docstring_is_the_original() -> None:
    rewrite = TRAILING.split('"""', maxsplit=1)[0].rstrip("\n") + "\n"
    assert restore_dropped_docs(TRAILING, rewrite) == TRAILING


def test_leading_docstring_and_comment_come_back() -> None:
    rewrite = "import math\n\n\ndef root(x):\n    return math.sqrt(abs(x))\n"
    out = restore_dropped_docs(LEADING, rewrite)
    assert out.startswith('#!/usr/bin/env python3\n"""Tools for counting."""\n\nimport math\n')
    assert "abs(x)" in out


def test_a_rewrite_with_its_own_documentation_is_kept_as_written() -> None:
    rewrite = '"""Counting, rewritten."""\n\nimport math\n\n\ndef root(x):\n    return x\n'
    assert restore_dropped_docs(LEADING, rewrite) == rewrite
    mine = TRAILING.replace("Input: a nonnegative int", "Input: any int")
    assert restore_dropped_docs(TRAILING, mine) == mine


def test_unparsable_text_is_left_alone() -> None:
    broken = "def count(n:\n    return 0\n"
    assert restore_dropped_docs(TRAILING, broken) == broken
    assert restore_dropped_docs("def f(:\n", "x = 1\n") == "x = 1\n"


def test_whole_edit_that_only_dropped_the_docstring_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "count.py").write_text(TRAILING)
    rewrite = TRAILING.split('"""', maxsplit=1)[0].rstrip("\n") + "\n"
    patch = apply_edits(tmp_path, [Edit(path="count.py", search="", replace=rewrite, whole=True)])
    assert patch.empty


def test_other_files_are_rewritten_as_given(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("a\n\nlast words\n")
    patch = apply_edits(tmp_path, [Edit(path="notes.txt", search="", replace="a\n", whole=True)])
    assert patch.changes[0].after == "a\n"
