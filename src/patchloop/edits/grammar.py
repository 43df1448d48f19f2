"""Grammars for constrained decoding of edit replies, and a well-formedness check for GBNF.

The search/replace grammar and regex admit one or more blocks in the exact format, with no
prose around them. A content line may be anything except a line that starts (after spaces or
tabs) with five ``<``, ``=`` or ``>``: that keeps every admitted reply parseable, since the
parser reads such lines as markers. Paths are limited to ``[A-Za-z0-9_./@+-]``.

The JSON grammar fixes the envelope's key order and, unlike the grammar llama-cpp-python
derives from a schema, admits no raw control characters inside strings, so constrained output
always passes strict :func:`json.loads`.
"""

from __future__ import annotations

import re

__all__ = [
    "JSON_ENVELOPE_GBNF",
    "SEARCH_REPLACE_GBNF",
    "SEARCH_REPLACE_REGEX",
    "check_gbnf",
]

SEARCH_REPLACE_GBNF = r"""
root ::= block ( "\n"? block )*
block ::= path "\n<<<<<<< SEARCH\n" line* "=======\n" line* ">>>>>>> REPLACE\n"
path ::= [A-Za-z0-9_./@+-]+
line ::= [ \t]* content? "\n"
content ::= [^ \t\n<=>] [^\n]* | "<"{1,4} after-lt? | "="{1,4} after-eq? | ">"{1,4} after-gt?
after-lt ::= [^<\n] [^\n]*
after-eq ::= [^=\n] [^\n]*
after-gt ::= [^>\n] [^\n]*
"""

_LINE = (
    r"[ \t]*(?:[^ \t\n<=>][^\n]*|<{1,4}(?:[^<\n][^\n]*)?"
    r"|={1,4}(?:[^=\n][^\n]*)?|>{1,4}(?:[^>\n][^\n]*)?)?\n"
)
_BLOCK = (
    r"[A-Za-z0-9_./@+-]+\n<<<<<<< SEARCH\n(?:" + _LINE + r")*=======\n(?:" + _LINE + r")*"
    r">>>>>>> REPLACE\n"
)
SEARCH_REPLACE_REGEX = "(?:" + _BLOCK + r")(?:\n?(?:" + _BLOCK + "))*"
"""The language of :data:`SEARCH_REPLACE_GBNF` as a regular expression without lookaround."""

JSON_ENVELOPE_GBNF = r"""
root ::= "{" ws edits-key edits comma run-key boolean comma why-key string ws "}"
edits-key ::= "\"edits\"" colon
run-key ::= "\"run_tests\"" colon
why-key ::= "\"explanation\"" colon
edits ::= "[" ws ( edit ( comma edit )* ws )? "]"
edit ::= "{" ws path-key path comma search-key string comma replace-key string ws "}"
path ::= "\"" [A-Za-z0-9_./@+-]+ "\""
path-key ::= "\"path\"" colon
search-key ::= "\"search\"" colon
replace-key ::= "\"replace\"" colon
colon ::= ws ":" ws
comma ::= ws "," ws
boolean ::= "true" | "false"
string ::= "\"" char* "\""
char ::= [^"\\\x7F\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )
ws ::= ( " " | "\n" [ \t]{0,20} )?
"""

_RULE_START = re.compile(r"^([A-Za-z0-9-]+)\s*::=", re.MULTILINE)
# llama.cpp rule names: letters, digits and hyphens (no underscores).
_NAME = re.compile(r"[A-Za-z0-9-]+")
_REPEAT = re.compile(r"\{\s*\d+\s*(?:,\s*\d*\s*)?\}")


def _scan_body(name: str, body: str, problems: list[str]) -> set[str]:
    """Rule names referenced in ``body``; syntax problems are appended to ``problems``."""
    refs: set[str] = set()
    depth = 0
    i = 0
    while i < len(body):
        c = body[i]
        if c in '"[':
            close = '"' if c == '"' else "]"
            j = i + 1
            while j < len(body) and body[j] != close:
                j += 2 if body[j] == "\\" else 1
            if j >= len(body):
                what = "string" if c == '"' else "character class"
                problems.append(f"rule {name}: unterminated {what}")
                return refs
            i = j + 1
        elif c == "#":
            newline = body.find("\n", i)
            i = len(body) if newline == -1 else newline
        elif c == "{":
            m = _REPEAT.match(body, i)
            if m is None:
                problems.append(f"rule {name}: bad repetition at {body[i : i + 12]!r}")
                return refs
            i = m.end()
        elif c in "()":
            depth += 1 if c == "(" else -1
            if depth < 0:
                problems.append(f"rule {name}: unbalanced ')'")
                return refs
            i += 1
        elif c in "|*+?" or c.isspace():
            i += 1
        else:
            m = _NAME.match(body, i)
            if m is None:
                problems.append(f"rule {name}: unexpected character {c!r}")
                return refs
            refs.add(m.group())
            i = m.end()
    if depth:
        problems.append(f"rule {name}: unbalanced '('")
    return refs


def check_gbnf(grammar: str) -> list[str]:
    """Problems of a GBNF grammar: syntax, no ``root``, undefined, duplicate or unused rules.

    An empty list means well-formed as far as this check goes (it does not check that
    character classes and escapes are valid for llama.cpp).
    """
    problems: list[str] = []
    starts = list(_RULE_START.finditer(grammar))
    head = grammar[: starts[0].start()] if starts else grammar
    if any(line.strip() and not line.lstrip().startswith("#") for line in head.splitlines()):
        problems.append("text before the first rule")
    defined: dict[str, int] = {}
    referenced: set[str] = set()
    for k, m in enumerate(starts):
        name = m.group(1)
        if name in defined:
            problems.append(f"rule {name} is defined twice")
        defined[name] = k
        end = starts[k + 1].start() if k + 1 < len(starts) else len(grammar)
        referenced |= _scan_body(name, grammar[m.end() : end], problems)
    if "root" not in defined:
        problems.append("no root rule")
    problems.extend(
        f"rule {r} is used but not defined" for r in sorted(referenced - defined.keys())
    )
    unused = defined.keys() - referenced - {"root"}
    problems.extend(f"rule {r} is defined but never used" for r in sorted(unused))
    return problems
