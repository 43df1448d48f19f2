"""Whole-file replies: parsing, the scoped grammar, applying a rewrite."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from patchloop.domain import EditScope, ScopeFile
from patchloop.edits import check_gbnf, get_format, parse_whole_files
from patchloop.edits.whole_file import MAX_LINES
from patchloop.errors import ParseError
from tests.edits.gbnf_regex import gbnf_to_regex
from tests.edits.helpers import write

OLD = "def gcd(a, b):\n    if b == 0:\n        return a\n    return gcd(a % b, b)\n"
NEW = "def gcd(a, b):\n    if b == 0:\n        return a\n    return gcd(b, a % b)\n"


def test_parse_takes_the_path_before_each_fence() -> None:
    text = f"The fix:\n\n**gcd.py**\n```python\n{NEW}```\n\nutil.py\n```\nX = 1\n```\n"
    edits = parse_whole_files(text)
    assert [(e.path, e.replace, e.whole) for e in edits] == [
        ("gcd.py", NEW, True),
        ("util.py", "X = 1\n", True),
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("no code here", "no fenced code block"),
        ("gcd.py\n```python\ndef f():\n", "not closed"),
        ("```python\nx = 1\n```\n", "no file path"),
        ("gcd.py\n```python\ndiff --git a/gcd.py b/gcd.py\n--- a/gcd.py\n```\n", "holds a diff"),
        ("gcd.py\n```\n\n--- a/gcd.py\n+++ b/gcd.py\n@@ -1 +1 @@\n```\n", "holds a diff"),
        ("gcd.py\n```\n@@ -1,2 +1,2 @@\n-x\n+y\n```\n", "holds a diff"),
    ],
)
def test_parse_errors_say_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_whole_files(text)
    assert problem in caught.value.feedback


def test_a_rewrite_applies_as_a_minimal_diff(tmp_path: Path) -> None:
    write(tmp_path, "gcd.py", OLD)
    fmt = get_format("whole")
    patch = fmt.apply(tmp_path, fmt.parse(f"gcd.py\n```python\n{NEW}```\n"))
    assert "-    return gcd(a % b, b)\n+    return gcd(b, a % b)\n" in patch.diff
    assert (tmp_path / "gcd.py").read_text() == OLD  # dry run
    unchanged = fmt.apply(tmp_path, fmt.parse(f"gcd.py\n```python\n{OLD}```\n"))
    assert unchanged.empty


def test_scoped_grammar_admits_rewrites_of_scope_files_only() -> None:
    scope = EditScope(files=(ScopeFile(path="gcd.py", text=OLD),))
    contract = get_format("whole").contract(scope)
    assert contract is not None
    assert contract.grammar is not None
    assert check_gbnf(contract.grammar) == []
    pattern = gbnf_to_regex(contract.grammar)
    assert re.fullmatch(pattern, f"gcd.py\n```python\n{NEW}```\n")
    assert not re.fullmatch(pattern, f"test_gcd.py\n```python\n{NEW}```\n")
    assert not re.fullmatch(pattern, f"src/gcd.py\n```python\n{NEW}```\n")
    assert not re.fullmatch(pattern, "gcd.py\n```python\n" + "x\n" * 100 + "```\n")
    # A Python file's fence may name Python or nothing, never another language.
    assert re.fullmatch(pattern, f"gcd.py\n```\n{NEW}```\n")
    assert not re.fullmatch(pattern, f"gcd.py\n```diff\n{NEW}```\n")
    assert get_format("whole").contract() is None


def test_long_files_are_not_offered_for_rewriting() -> None:
    big = ScopeFile(path="big.py", text="x = 1\n" * (MAX_LINES + 1))
    scope = EditScope(files=(big, ScopeFile(path="gcd.py", text=OLD)))
    grammar = get_format("whole").contract(scope).grammar  # type: ignore[union-attr]
    assert grammar is not None
    assert '"big.py"' not in grammar
    assert '"gcd.py"' in grammar


def test_a_file_whose_lines_look_like_diff_lines_is_still_a_file() -> None:
    text = "notes.txt\n```\nIntro\n--- a/x\n+++ b/x\n```\n"
    assert parse_whole_files(text)[0].replace == "Intro\n--- a/x\n+++ b/x\n"
