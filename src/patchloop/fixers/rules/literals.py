"""Wrong constants: a string or container literal where another value was meant."""

from __future__ import annotations

import ast
from collections.abc import Iterator

import libcst as cst

from patchloop.fixers._source import SourceFile
from patchloop.fixers._types import Mutation
from patchloop.fixers.rules._util import replace, walk

NAME = "literals"
PRIOR = 0.5

MAX_STRINGS = 4
MAX_SHORT = 3
MAX_INTEGERS = 3
"""Strings up to this many characters also get single-character deletions."""


def _value(node: cst.SimpleString) -> str | None:
    try:
        value = ast.literal_eval(node.value)
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, str) else None


def _strings(src: SourceFile) -> Iterator[Mutation]:
    for node in src.sites_of(cst.SimpleString):
        value = _value(node)
        if value is None or "b" in node.prefix.lower():
            continue
        quote = node.quote
        prefix = node.prefix
        seen = {value}
        alternatives: list[tuple[str, float]] = []
        others = [_value(s) for s in src.scope_of(node).strings if s is not node]
        for other in others:
            if other is not None and other not in seen and len(other) <= 20:
                seen.add(other)
                alternatives.append((other, 0.6))
        alternatives = alternatives[:MAX_STRINGS]
        if 0 < len(value) <= MAX_SHORT:
            for i in range(len(value)):
                shorter = value[:i] + value[i + 1 :]
                if shorter not in seen:
                    seen.add(shorter)
                    alternatives.append((shorter, 0.4))
        for other, weight in _variants(value):
            if other not in seen:
                seen.add(other)
                alternatives.append((other, weight))
        for new, weight in alternatives:
            text = prefix + quote + _escape(new, quote) + quote
            yield replace(node, text, f"{node.value} -> {text}", weight)


_OPEN, _CLOSE = "([{<", ")]}>"


def _variants(value: str) -> list[tuple[str, float]]:
    """General confusions of a short string: mirrored brackets, separators, letter case."""
    out: list[tuple[str, float]] = []
    if len(value) == 1 and value in _OPEN + _CLOSE:
        side, other = (_OPEN, _CLOSE) if value in _OPEN else (_CLOSE, _OPEN)
        out.append((other[side.index(value)], 0.5))
        out.extend((c, 0.35) for c in side if c != value)
    if len(value) <= 1:
        out.extend([(" ", 0.35), ("", 0.35)])
    if value.isalpha() and len(value) <= 20:
        for cased in (value.capitalize(), value.lower(), value.upper()):
            if cased != value:
                out.append((cased, 0.3))
    return out


def _integers(src: SourceFile) -> Iterator[Mutation]:
    """An integer where another constant of the same function was meant (``0`` for ``2``)."""
    cache: dict[cst.CSTNode | None, list[int]] = {}
    for node in src.sites_of(cst.Integer):
        value = _int(node)
        if value is None or isinstance(src.parent(node), cst.UnaryOperation):
            continue
        fn = src.function_of(node)
        while fn is not None and src.function_of(fn) is not None:
            fn = src.function_of(fn)  # constants of the outermost function count too
        if fn not in cache:
            cache[fn] = _function_integers(src, fn or src.module)
        others = [v for v in cache[fn] if v not in (value, value + 1, value - 1)]
        for rank, other in enumerate(others[:MAX_INTEGERS]):
            yield replace(node, str(other), f"{value} -> {other}", 0.5 * 0.9**rank)


def _int(node: cst.Integer) -> int | None:
    text = node.value.replace("_", "")
    return int(text) if text.isdigit() and (text == "0" or not text.startswith("0")) else None


def _function_integers(src: SourceFile, scope: cst.CSTNode) -> list[int]:
    found: dict[int, None] = {}
    for node in walk(scope, cst.Integer, src=src):
        value = _int(node)
        if value is not None and value < 10**6:
            found.setdefault(value)
    return list(found)


def _elements(src: SourceFile) -> Iterator[Mutation]:
    """``("a", "e", "y")`` -> ``("a", "e")``: one element too many in a literal collection."""
    for node in src.sites_of((cst.List, cst.Tuple, cst.Set)):
        elements = list(node.elements)
        if len(elements) < 3 or not all(
            isinstance(e.value, cst.SimpleString | cst.Integer | cst.Float) for e in elements
        ):
            continue
        for i, element in enumerate(elements):
            rest = elements[:i] + elements[i + 1 :]
            last = elements[-1]
            if i == len(elements) - 1:
                rest[-1] = rest[-1].with_changes(comma=last.comma)
            new = node.with_changes(elements=rest)
            yield replace(node, new, f"drop element '{src.render(element.value, '')}'", 0.3)


def _escape(value: str, quote: str) -> str:
    body = repr(value)[1:-1]
    if quote == '"':
        body = body.replace("\\'", "'").replace('"', '\\"')
    return body


def _containers(src: SourceFile) -> Iterator[Mutation]:
    """``[]`` -> ``[[]]`` or ``[x]``: the neutral element of a recursion is not empty."""
    for node in src.sites_of(cst.List):
        if node.elements:
            continue
        parent = src.parent(node)
        if not isinstance(parent, cst.Return | cst.Assign):
            continue
        yield replace(node, "[[]]", "[] -> [[]]", 0.6)
        scope = src.scope_of(node)
        for rank, param in enumerate(p for p in scope.params[:2] if p not in ("self", "cls")):
            yield replace(node, f"[{param}]", f"[] -> [{param}]", 0.5 * 0.9**rank)


def generate(src: SourceFile) -> Iterator[Mutation]:
    """Replace a string literal by another one used in the same function, a shorter one
    (``"__"`` -> ``"_"``), a mirrored bracket, another separator or another letter case; an
    integer by another integer of the same function; drop one element of a literal collection;
    or replace an empty list returned or assigned by ``[[]]`` or ``[param]``.

    Repairs HumanEvalFix *value misuse* in strings and QuixBugs "incorrect data structure
    constant" (the base case of a recursion).
    """
    yield from _strings(src)
    yield from _integers(src)
    yield from _elements(src)
    yield from _containers(src)
