"""Off-by-one errors: integer literals, indices, ``len()``, slice and ``range()`` bounds."""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from patchloop.fixers._source import SourceFile
from patchloop.fixers._types import Mutation
from patchloop.fixers.rules._roles import roles
from patchloop.fixers.rules._util import binop, code_of, fit, is_recursive_call, replace, unparen

NAME = "off_by_one"
PRIOR = 0.8

_MAX_LITERAL = 10**6
_INDEXABLE = (cst.Name, cst.Attribute, cst.Call, cst.BinaryOperation, cst.Subscript)


def _literal_value(node: cst.CSTNode) -> int | None:
    """The value of a decimal integer literal, possibly negated."""
    negative = False
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        negative, node = True, node.expression
    if not isinstance(node, cst.Integer) or node.lpar:
        return None
    text = node.value.replace("_", "")
    if not text.isdigit() or (len(text) > 1 and text.startswith("0")):
        return None
    value = int(text)
    return -value if negative else value


def _is_bound(src: SourceFile, node: cst.CSTNode) -> bool:
    """Whether ``node`` is an index, a slice bound or an argument of ``range()``."""
    parent = src.parent(node)
    if isinstance(parent, cst.UnaryOperation):
        node, parent = parent, src.parent(parent)
    if isinstance(parent, cst.Index | cst.Slice):
        return True
    if isinstance(parent, cst.Element) and isinstance(src.parent(parent), cst.Tuple):
        return isinstance(src.parent(src.parent(parent) or parent), cst.Index)
    if isinstance(parent, cst.Arg):
        call = src.parent(parent)
        return (
            isinstance(call, cst.Call)
            and isinstance(call.func, cst.Name)
            and (call.func.value == "range")
        )
    return False


def _literals(src: SourceFile) -> Iterator[Mutation]:
    for node in src.sites_of((cst.Integer, cst.UnaryOperation)):
        value = _literal_value(node)
        if value is None or abs(value) > _MAX_LITERAL:
            continue
        parent = src.parent(node)
        if isinstance(node, cst.Integer) and isinstance(parent, cst.UnaryOperation):
            continue  # handled as the negative literal
        weight = 1.0 if _is_bound(src, node) else 0.6
        for new in (value + 1, value - 1):
            expr: cst.BaseExpression = cst.Integer(str(abs(new)))
            if new < 0:
                expr = cst.UnaryOperation(operator=cst.Minus(), expression=expr)
            yield replace(node, fit(parent, node, expr), f"{value} -> {new}", weight)


def _plus_minus(
    src: SourceFile, node: cst.BaseExpression, weight: float, why: str
) -> Iterator[Mutation]:
    parent = src.parent(node)
    for op in ("+", "-"):
        new = fit(parent, node, binop(unparen(node), op, cst.Integer("1")))
        yield replace(node, new, f"{why} '{code_of(node)}' -> '{code_of(new)}'", weight)


def _is_one(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Integer) and node.value == "1"


def _bounds(src: SourceFile) -> Iterator[Mutation]:
    function_cache: dict[cst.CSTNode, cst.FunctionDef | None] = {}
    for node in src.sites_of(_INDEXABLE):
        if isinstance(node, cst.Name) and not src.is_load(node):
            continue
        if isinstance(node, cst.BinaryOperation) and isinstance(
            node.operator, cst.Add | cst.Subtract
        ):
            parent = src.parent(node)
            if (
                isinstance(node.operator, cst.Subtract)
                and not _is_one(node.right)
                and not (isinstance(parent, cst.BinaryOperation) and _is_one(parent.right))
            ):
                # ``hi - lo`` counts one less than the inclusive range ``lo..hi``.
                new = fit(parent, node, binop(unparen(node), "+", cst.Integer("1")))
                yield replace(node, new, f"inclusive '{code_of(new)}'", 0.35)
            if _is_one(node.right):
                yield replace(node, fit(src.parent(node), node, node.left), "drop '± 1'", 0.8)
            elif _is_one(node.left) and isinstance(node.operator, cst.Add):
                yield replace(node, fit(src.parent(node), node, node.right), "drop '1 +'", 0.8)
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name):
            if node.func.value == "len":
                yield from _plus_minus(src, node, 0.6, "length")
            if node.func.value == "range":
                yield from _range(node)
            continue
        if _is_bound(src, node):
            yield from _plus_minus(src, node, 0.7, "bound")
            continue
        parent = src.parent(node)
        if isinstance(parent, cst.Arg) and parent.keyword is None:
            call = src.parent(parent)
            if isinstance(call, cst.Call):
                if call not in function_cache:
                    function_cache[call] = src.function_of(call)
                ends_in_int = isinstance(node, cst.BinaryOperation) and isinstance(
                    node.right, cst.Integer
                )
                if (
                    is_recursive_call(call, function_cache[call])
                    and not ends_in_int
                    and _may_be_number(src, node)
                ):
                    yield from _plus_minus(src, node, 0.5, "recursive argument")


_NON_NUMBERS = {"container", "string", "list", "set", "dict", "object"}


def _may_be_number(src: SourceFile, node: cst.BaseExpression) -> bool:
    """False for a variable only ever used as a collection, string or object."""
    if not isinstance(node, cst.Name):
        return True
    used = roles(src, src.function_of(node)).get(node.value, set())
    return "number" in used or not (used & _NON_NUMBERS)


def _range(node: cst.Call) -> Iterator[Mutation]:
    args = node.args
    if any(a.keyword is not None or a.star for a in args):
        return
    if len(args) == 2:
        start = args[0].value
        kept = args[1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        yield replace(
            node, node.with_changes(args=[kept]), f"drop range start '{code_of(start)}'", 0.6
        )
    elif len(args) == 1:
        one = cst.Arg(
            value=cst.Integer("1"),
            comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")),
        )
        yield replace(node, node.with_changes(args=[one, args[0]]), "add range start 1", 0.4)


def generate(src: SourceFile) -> Iterator[Mutation]:
    """Move a boundary by one: ±1 on integer literals, indices, slice bounds, ``range()``
    arguments, ``len()`` and arguments of recursive calls; drop a ``± 1``; drop or add a
    ``range()`` start.

    Repairs QuixBugs "missing/added +1", HumanEvalFix *value misuse* in bounds and the *change
    numeric literal* SStuB pattern.
    """
    yield from _literals(src)
    yield from _bounds(src)
