"""Grammars for constrained decoding: the regex, the GBNF, and that what they admit parses."""

from __future__ import annotations

import json
import random
import re

import pytest

from patchloop.domain import Edit
from patchloop.edits import SearchReplaceFormat, check_gbnf, parse_envelope, parse_search_replace
from patchloop.edits.grammar import JSON_ENVELOPE_GBNF, SEARCH_REPLACE_GBNF, SEARCH_REPLACE_REGEX
from tests.edits.gbnf_regex import gbnf_to_regex

SR_FROM_GBNF = re.compile(gbnf_to_regex(SEARCH_REPLACE_GBNF))
JSON_FROM_GBNF = re.compile(gbnf_to_regex(JSON_ENVELOPE_GBNF))


def block(path: str, search: list[str], replace: list[str]) -> str:
    body = "".join(line + "\n" for line in search) + "=======\n"
    return (
        f"{path}\n<<<<<<< SEARCH\n{body}"
        + "".join(line + "\n" for line in replace)
        + ">>>>>>> REPLACE\n"
    )


ODD_LINES = [
    "<html>",
    "    >>> doctest()",
    "== x",
    "<<<<",
    "====",
    ">>>>x",
    "\t",
    "",
    "   ",
    "a <<<<<<< b",
    "```",
    "# c",
    "=<=<=<=<",
]

VALID = {
    "one": block("src/a.py", ["x = 1"], ["x = 2"]),
    "two-with-blank": block("a.py", ["a"], ["b"]) + "\n" + block("pkg/b-c_d.py", ["c"], ["d"]),
    "two-tight": block("a.py", ["a"], ["b"]) + block("a.py", ["c"], ["d"]),
    "new-file": block("n/new.py", [], ["print(1)"]),
    "delete-lines": block("a.py", ["gone", "too"], []),
    "odd-lines": block("x.txt", ODD_LINES, list(reversed(ODD_LINES))),
    "odd-path": block("@scope/pkg+1/v1.2.js", ["  indented", "\ttabbed  "], ["ok"]),
}
INVALID = {
    "empty": "",
    "prose-first": "Here you go:\n" + VALID["one"],
    "no-final-newline": VALID["one"].rstrip("\n"),
    "extra-divider": block("a.py", ["a"], ["=======", "b"]),
    "marker-in-content": block("a.py", ["<<<<<<< SEARCH"], ["b"]),
    "indented-marker-like": block("a.py", ["  ====="], ["b"]),
    "five-gt": block("a.py", [">>>>> x"], ["b"]),
    "path-with-space": block("my file.py", ["a"], ["b"]),
    "ticked-path": block("`a.py`", ["a"], ["b"]),
    "fenced": "```\n" + VALID["one"] + "```\n",
    "no-replace": "a.py\n<<<<<<< SEARCH\na\n=======\nb\n",
    "two-blank-lines": block("a.py", ["a"], ["b"]) + "\n\n" + block("a.py", ["c"], ["d"]),
    "no-path": VALID["one"].split("\n", 1)[1],
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_regex_and_gbnf_admit_valid_replies_which_parse(name: str) -> None:
    reply = VALID[name]
    assert re.fullmatch(SEARCH_REPLACE_REGEX, reply)
    assert SR_FROM_GBNF.fullmatch(reply)
    assert parse_search_replace(reply)


def test_admitted_odd_lines_parse_exactly() -> None:
    (edit,) = parse_search_replace(VALID["odd-lines"])
    assert edit == Edit(
        path="x.txt",
        search="".join(x + "\n" for x in ODD_LINES),
        replace="".join(x + "\n" for x in reversed(ODD_LINES)),
    )


@pytest.mark.parametrize("name", sorted(INVALID))
def test_regex_and_gbnf_reject_invalid_replies(name: str) -> None:
    reply = INVALID[name]
    assert not re.fullmatch(SEARCH_REPLACE_REGEX, reply)
    assert not SR_FROM_GBNF.fullmatch(reply)


def test_random_replies_regex_equals_gbnf_and_admitted_ones_parse() -> None:
    rng = random.Random(1234)
    alphabet = [" ", "\t", "<", "=", ">", "a", "`", "#", "-", "é"]
    paths = ["a.py", "src/b.py", "c-d/e_f.txt", "bad path", "x:y"]
    admitted = 0
    for _ in range(3000):
        blocks = []
        expected = []
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(paths)
            lines = [
                [
                    "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
                    for _ in range(rng.randint(0, 3))
                ]
                for _ in range(2)
            ]
            blocks.append(block(path, lines[0], lines[1]))
            expected.append(
                Edit(
                    path=path,
                    search="".join(x + "\n" for x in lines[0]),
                    replace="".join(x + "\n" for x in lines[1]),
                )
            )
        reply = rng.choice(["", "\n"]).join(blocks)
        by_regex = re.fullmatch(SEARCH_REPLACE_REGEX, reply) is not None
        assert by_regex == (SR_FROM_GBNF.fullmatch(reply) is not None), reply
        if by_regex:
            admitted += 1
            assert parse_search_replace(reply) == expected, reply
    assert admitted > 300


def test_contract_of_search_replace() -> None:
    contract = SearchReplaceFormat().contract()
    assert contract.name == "search-replace"
    assert contract.grammar == SEARCH_REPLACE_GBNF
    assert contract.regex == SEARCH_REPLACE_REGEX
    # Servers compile regexes without lookaround or backreferences.
    for construct in ("(?=", "(?!", "(?<", "\\1"):
        assert construct not in contract.regex


ENVELOPE = {
    "edits": [{"path": "a.py", "search": 'say("hi")\n\tx\\y', "replace": "é ünï 🙂\u0001"}],
    "run_tests": True,
    "explanation": "fix",
}


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(ENVELOPE),
        json.dumps(ENVELOPE, indent=2),
        json.dumps(ENVELOPE, separators=(",", ":")),
        json.dumps(ENVELOPE, ensure_ascii=False),
        json.dumps({"edits": [], "run_tests": False, "explanation": ""}),
        json.dumps(
            {"edits": [ENVELOPE["edits"][0]] * 3, "run_tests": False, "explanation": "x"}, indent=4
        ),
    ],
)
def test_json_grammar_admits_envelopes(text: str) -> None:
    assert JSON_FROM_GBNF.fullmatch(text)
    json.loads(text)  # strict
    parse_envelope(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"edits": [{"path": "a.py", "search": "x\n", "replace": ""}], '
        '"run_tests": true, "explanation": ""}',
        '{"run_tests": true, "edits": [], "explanation": ""}',
        '{"edits": [], "run_tests": true, "explanation": "", "extra": 1}',
        '{"edits": [], "run_tests": true}',
        '{"edits": [], "run_tests": true, "explanation": "",}',
        '{"edits": [], "run_tests": "true", "explanation": ""}',
        ' {"edits": [], "run_tests": true, "explanation": ""}',
        '{"edits": [], "run_tests": true, "explanation": "\\q"}',
        '{"edits": [], "run_tests": true, "explanation": "\x7f"}',
    ],
)
def test_json_grammar_rejects(text: str) -> None:
    assert not JSON_FROM_GBNF.fullmatch(text)


def test_random_envelopes_admitted_exactly_when_strict_json() -> None:
    rng = random.Random(99)
    # No DEL: JSON allows it raw, but the grammar (like llama.cpp's own) wants it escaped.
    pool = ['"', "\\", "\n", "\t", "\x00", "\x1f", "a", " ", "{", "}", "é", "\u2028"]
    for _ in range(300):
        value = {
            "edits": [
                {
                    "path": "".join(rng.choice("abz09_./@+-") for _ in range(rng.randint(1, 6))),
                    **{
                        k: "".join(rng.choice(pool) for _ in range(rng.randint(0, 6)))
                        for k in ("search", "replace")
                    },
                }
                for _ in range(rng.randint(0, 2))
            ],
            "run_tests": rng.random() < 0.5,
            "explanation": "".join(rng.choice(pool) for _ in range(4)),
        }
        text = json.dumps(value, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 1]))
        assert JSON_FROM_GBNF.fullmatch(text), text
        raw = text.replace("\\n", "\n").replace("\\t", "\t")
        if raw != text:
            assert not JSON_FROM_GBNF.fullmatch(raw)


@pytest.mark.parametrize("path", ['""', '"has space.py"', '"a\\nb"'])
def test_json_grammar_requires_a_plain_non_empty_path(path: str) -> None:
    text = '{"edits": [{"path": ' + path + ', "search": "", "replace": ""}], '
    assert not JSON_FROM_GBNF.fullmatch(text + '"run_tests": true, "explanation": ""}')


def test_our_grammars_are_well_formed() -> None:
    assert check_gbnf(SEARCH_REPLACE_GBNF) == []
    assert check_gbnf(JSON_ENVELOPE_GBNF) == []


@pytest.mark.parametrize(
    ("grammar", "problem"),
    [
        ('start ::= "a"\n', "no root rule"),
        ("root ::= item\n", "rule item is used but not defined"),
        ('root ::= "a"\nroot ::= "b"\n', "rule root is defined twice"),
        ('root ::= "a"\nlost ::= "b"\n', "rule lost is defined but never used"),
        ('root ::= ( "a"\n', "unbalanced '('"),
        ('root ::= "a" )\n', "unbalanced ')'"),
        ('root ::= "a\n', "unterminated string"),
        ("root ::= [a-z\n", "unterminated character class"),
        ('root ::= "a"{1,x}\n', "bad repetition"),
        ('root ::= my_rule\nmy_rule ::= "a"\n', "unexpected character '_'"),
        ('hello\nroot ::= "a"\n', "text before the first rule"),
    ],
)
def test_gbnf_checker_finds_problems(grammar: str, problem: str) -> None:
    assert any(problem in p for p in check_gbnf(grammar)), check_gbnf(grammar)


def test_gbnf_checker_accepts_comments_and_empty_alternatives() -> None:
    grammar = (
        '# a comment\nroot ::= ws "x" # trailing\nws ::= | " " ws-tail\nws-tail ::= [ \\t]{0,3}\n'
    )
    assert check_gbnf(grammar) == []
