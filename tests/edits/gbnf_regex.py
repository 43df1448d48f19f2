"""Translate a non-recursive GBNF grammar into a Python regex, to test grammars without llama.cpp.

Covers the subset our grammars use: string literals, character classes, grouping,
alternation, ``* + ?`` and ``{m,n}``, and references to other rules (inlined).
"""

from __future__ import annotations

import re

_RULE = re.compile(r"^([A-Za-z0-9-]+)\s*::=", re.MULTILINE)
_REPEAT = re.compile(r"\{\s*(\d+)\s*(?:(,)\s*(\d*)\s*)?\}")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "[": "[", "]": "]"}


def _rules(grammar: str) -> dict[str, str]:
    starts = list(_RULE.finditer(grammar))
    out: dict[str, str] = {}
    for k, m in enumerate(starts):
        end = starts[k + 1].start() if k + 1 < len(starts) else len(grammar)
        out[m.group(1)] = grammar[m.end() : end]
    return out


def _literal(body: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt == "x":
            out.append(chr(int(body[i + 2 : i + 4], 16)))
            i += 4
        elif nxt == "u":
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        else:
            out.append(_ESCAPES[nxt])
            i += 2
    return "".join(out)


def gbnf_to_regex(grammar: str, rule: str = "root") -> str:
    """A Python regex for ``rule`` of ``grammar``; raises ValueError on recursion."""
    rules = _rules(grammar)

    def convert(name: str, stack: tuple[str, ...]) -> str:
        if name in stack:
            raise ValueError(f"recursive rule {name}")
        body = rules[name]
        out: list[str] = []
        i = 0
        while i < len(body):
            c = body[i]
            if c == '"':
                j = i + 1
                while body[j] != '"':
                    j += 2 if body[j] == "\\" else 1
                out.append("(?:" + re.escape(_literal(body[i + 1 : j])) + ")")
                i = j + 1
            elif c == "[":
                j = i + 1
                while body[j] != "]":
                    j += 2 if body[j] == "\\" else 1
                out.append(body[i : j + 1])  # GBNF classes use Python's escapes
                i = j + 1
            elif c == "{":
                m = _REPEAT.match(body, i)
                assert m is not None
                lo, comma, hi = m.group(1), m.group(2), m.group(3)
                out.append("{" + lo + ("," + hi if comma else "") + "}")
                i = m.end()
            elif c in "()|*+?":
                out.append("(?:" if c == "(" else c)
                i += 1
            elif c.isspace():
                i += 1
            else:
                m = re.compile(r"[A-Za-z0-9-]+").match(body, i)
                assert m is not None, body[i:]
                out.append("(?:" + convert(m.group(), (*stack, name)) + ")")
                i = m.end()
        return "".join(out)

    return convert(rule, ())
