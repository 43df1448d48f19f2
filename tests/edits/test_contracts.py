"""Scoped output contracts: only the run's paths, only shown lines to find, few edits."""

from __future__ import annotations

import json
import re

import pytest

from patchloop.domain import EditScope, ScopeFile
from patchloop.edits import check_gbnf, get_format
from patchloop.edits.contracts import gbnf_literal, json_scoped_schema
from patchloop.edits.json_envelope import ENVELOPE_SCHEMA
from tests.edits.gbnf_regex import gbnf_to_regex

SOURCE = (
    "def gcd(a, b):\n"
    "    if b == 0:\n"
    "        return a\n"
    "    else:\n"
    "        return gcd(a % b, b)\n"
    "\n"
    'NOTE = "say \\"hi\\"\\tthere"\n'
)
OTHER = "VALUE = 1\nLIMIT = 2\n"
SCOPE = EditScope(
    files=(ScopeFile(path="gcd.py", text=SOURCE), ScopeFile(path="pkg/other.py", text=OTHER)),
    max_edits=2,
)


def block(path: str, search: str, replace: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


def envelope(*edits: tuple[str, str, str]) -> str:
    return json.dumps(
        {
            "edits": [{"path": p, "search": s, "replace": r} for p, s, r in edits],
            "run_tests": True,
            "explanation": "swap the arguments",
        }
    )


FIX = ("gcd.py", "        return gcd(a % b, b)\n", "        return gcd(b, a % b)\n")


def admitted(name: str, text: str) -> bool:
    contract = get_format(name).contract(SCOPE)
    assert contract is not None
    assert contract.grammar is not None
    return re.fullmatch(gbnf_to_regex(contract.grammar), text, re.DOTALL) is not None


@pytest.mark.parametrize("name", ["search-replace", "json", "udiff"])
def test_scoped_grammars_are_well_formed_and_parse_what_they_admit(name: str) -> None:
    fmt = get_format(name)
    contract = fmt.contract(SCOPE)
    assert contract is not None
    assert contract.grammar is not None
    assert check_gbnf(contract.grammar) == []
    reply = {
        "search-replace": block(*FIX),
        "json": envelope(FIX),
        "udiff": "```diff\n--- a/gcd.py\n+++ b/gcd.py\n@@ -4,2 +4,2 @@\n     else:\n"
        "-        return gcd(a % b, b)\n+        return gcd(b, a % b)\n```\n",
    }[name]
    assert admitted(name, reply)
    edits = fmt.parse(reply)
    assert [(e.path, e.search.strip(), e.replace.strip()) for e in edits][-1] == (
        "gcd.py",
        FIX[1].strip() if name != "udiff" else "else:\n        return gcd(a % b, b)",
        FIX[2].strip() if name != "udiff" else "else:\n        return gcd(b, a % b)",
    )


@pytest.mark.parametrize(
    "reply",
    [
        block("src/gcd.py", FIX[1], FIX[2]),  # a path that does not exist
        block("test_gcd.py", FIX[1], FIX[2]),  # not in the scope (test files never are)
        block("gcd.py", "        return gcd(a, b)\n", FIX[2]),  # a line the file lacks
        block("gcd.py", "    if b == 0:\n    else:\n", FIX[2]),  # lines not contiguous
        block("gcd.py", "return gcd(a % b, b)\n", FIX[2]),  # indentation not copied
        block("gcd.py", "", FIX[2]),  # nothing to find: no new files under a scope
        block(*FIX) * 3,  # more blocks than max_edits
        "Here is the fix:\n" + block(*FIX),  # prose around the blocks
    ],
)
def test_scoped_search_replace_grammar_rejects(reply: str) -> None:
    assert not admitted("search-replace", reply)


def test_scoped_search_replace_admits_runs_of_each_file_and_escaped_lines() -> None:
    assert admitted("search-replace", block(*FIX) + "\n" + block("pkg/other.py", OTHER, ""))
    assert admitted("search-replace", block("gcd.py", SOURCE.splitlines(True)[-1], "X = 1\n"))


@pytest.mark.parametrize(
    "reply",
    [
        envelope(("src/gcd.py", FIX[1], FIX[2])),
        envelope(("test_gcd.py", FIX[1], FIX[2])),
        envelope(("gcd.py", "        return gcd(a, b)\n", FIX[2])),
        envelope(("gcd.py", "        return gcd(a % b, b)", FIX[2])),  # not a whole line
        envelope(FIX, FIX, FIX),
        envelope(),
    ],
)
def test_scoped_json_grammar_rejects(reply: str) -> None:
    assert not admitted("json", reply)


def test_scoped_json_search_is_the_json_escaped_line() -> None:
    note = SOURCE.splitlines(True)[-1]
    assert admitted("json", envelope(("gcd.py", note, "NOTE = 1\n")))


def test_scoped_json_schema_limits_paths_and_count() -> None:
    schema = json_scoped_schema(SCOPE, ENVELOPE_SCHEMA)
    edits = schema["properties"]["edits"]  # type: ignore[index]
    assert edits["items"]["properties"]["path"]["enum"] == ["gcd.py", "pkg/other.py"]
    assert edits["maxItems"] == 2
    # The shared schema is untouched.
    assert "enum" not in ENVELOPE_SCHEMA["properties"]["edits"]["items"]["properties"]["path"]


@pytest.mark.parametrize(
    "reply",
    [
        "```diff\n--- a/src/gcd.py\n+++ b/src/gcd.py\n@@ -5 +5 @@\n"
        "-        return gcd(a % b, b)\n+        return gcd(b, a % b)\n```\n",
        "```diff\n--- a/gcd.py\n+++ b/gcd.py\n@@ -5 +5 @@\n"
        "-        return gcd(a, b)\n+        return gcd(b, a % b)\n```\n",
    ],
)
def test_scoped_udiff_grammar_rejects(reply: str) -> None:
    assert not admitted("udiff", reply)


def test_scoped_regex_enforces_paths_and_count() -> None:
    contract = get_format("search-replace").contract(SCOPE)
    assert contract.regex is not None
    assert re.fullmatch(contract.regex, block(*FIX))
    assert not re.fullmatch(contract.regex, block("src/gcd.py", FIX[1], FIX[2]))
    assert not re.fullmatch(contract.regex, block(*FIX) * 3)


def test_contracts_name_the_edit_end_that_stops_a_looping_reply() -> None:
    assert get_format("search-replace").contract(SCOPE).unit_end == ">>>>>>> REPLACE\n"
    assert get_format("search-replace").contract().unit_end == ">>>>>>> REPLACE\n"


def test_without_a_scope_the_generic_contracts_stay() -> None:
    assert get_format("udiff").contract() is None
    assert get_format("udiff").contract(EditScope(files=())) is None
    generic = get_format("search-replace").contract()
    assert "gcd.py" not in (generic.grammar or "")


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ('a "b" \\ c', '"a \\"b\\" \\\\ c"'),
        ("tab\there\r\n", '"tab\\there\\r\\n"'),
        ("bell\x07", '"bell\\x07"'),
        ("snowman ☃", '"snowman ☃"'),
    ],
)
def test_gbnf_literal_escapes(text: str, literal: str) -> None:
    assert gbnf_literal(text) == literal


def test_large_files_fall_back_to_free_lines() -> None:
    big = "".join(f"x{i} = {i}\n" for i in range(2000))
    scope = EditScope(files=(ScopeFile(path="big.py", text=big),))
    contract = get_format("search-replace").contract(scope)
    assert contract.grammar is not None
    assert "find0" not in contract.grammar
    assert re.fullmatch(gbnf_to_regex(contract.grammar), block("big.py", "anything\n", "y\n"))
    assert not re.fullmatch(gbnf_to_regex(contract.grammar), block("other.py", "x\n", "y\n"))


def test_excerpts_admit_only_their_lines() -> None:
    text = "".join(f"line{i}\n" for i in range(1, 11))
    scope = EditScope(files=(ScopeFile(path="a.py", text=text, spans=((2, 3), (8, 8))),))
    grammar = get_format("search-replace").contract(scope).grammar
    assert grammar is not None
    pattern = gbnf_to_regex(grammar)
    assert re.fullmatch(pattern, block("a.py", "line2\nline3\n", "x\n"))
    assert re.fullmatch(pattern, block("a.py", "line8\n", "x\n"))
    assert not re.fullmatch(pattern, block("a.py", "line5\n", "x\n"))
    assert not re.fullmatch(pattern, block("a.py", "line3\nline8\n", "x\n"))
