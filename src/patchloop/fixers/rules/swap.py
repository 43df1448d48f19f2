"""Swapped operands: call arguments, operands of non-commutative operators, index tuples."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import combinations
from typing import TypeVar

import libcst as cst

from patchloop.fixers._source import SourceFile
from patchloop.fixers._types import Mutation
from patchloop.fixers.rules._util import code_of, fit, replace, unparen

NAME = "swap"
PRIOR = 0.8

T = TypeVar("T", cst.Arg, cst.BaseElement)
_MAX_ARGS = 4
_NON_COMMUTATIVE = (
    cst.Subtract,
    cst.Divide,
    cst.FloorDivide,
    cst.Modulo,
    cst.Power,
    cst.LeftShift,
    cst.RightShift,
    cst.MatrixMultiply,
)
_ORDERED = (
    cst.LessThan,
    cst.LessThanEqual,
    cst.GreaterThan,
    cst.GreaterThanEqual,
    cst.In,
    cst.NotIn,
)


def _pairs(n: int) -> Iterator[tuple[int, int, float]]:
    if n <= _MAX_ARGS:
        for i, j in combinations(range(n), 2):
            yield i, j, 1.0 if j == i + 1 else 0.6
    else:
        for i in range(n - 1):
            yield i, i + 1, 1.0


def _swapped_values(items: Sequence[T], i: int, j: int) -> list[T]:
    out = list(items)
    a, b = out[i], out[j]
    out[i] = a.with_changes(value=b.value)
    out[j] = b.with_changes(value=a.value)
    return out


def _calls(src: SourceFile, node: cst.Call) -> Iterator[Mutation]:
    positional = [i for i, a in enumerate(node.args) if a.keyword is None and not a.star]
    for i, j, weight in _pairs(len(positional)):
        a, b = node.args[positional[i]], node.args[positional[j]]
        if code_of(a.value) == code_of(b.value):
            continue
        args = _swapped_values(node.args, positional[i], positional[j])
        yield replace(
            node,
            node.with_changes(args=args),
            f"swap arguments '{code_of(a.value)}' and '{code_of(b.value)}'",
            weight,
            line=src.line(a),
        )


def _binary(src: SourceFile, node: cst.BinaryOperation) -> Iterator[Mutation]:
    commutes = not isinstance(node.operator, _NON_COMMUTATIVE)
    if commutes and not isinstance(node.operator, cst.Add):
        return
    left, right = unparen(node.left), unparen(node.right)
    probe = node.with_changes(left=right, right=left)
    new = node.with_changes(left=fit(probe, right, right), right=fit(probe, left, left))
    # ``+`` commutes for numbers but not for strings and lists (prepend vs append).
    weight = 0.5 if commutes else 1.0
    yield replace(
        node, new, f"swap operands of '{code_of(node)}'", weight, line=src.line(node.right)
    )


def _comparison(src: SourceFile, node: cst.Comparison) -> Iterator[Mutation]:
    if len(node.comparisons) != 1 or not isinstance(node.comparisons[0].operator, _ORDERED):
        return
    target = node.comparisons[0]
    new = node.with_changes(
        left=target.comparator, comparisons=[target.with_changes(comparator=node.left)]
    )
    yield replace(node, new, f"swap operands of '{code_of(node)}'", 0.5)


def _tuples(src: SourceFile, node: cst.Tuple | cst.List) -> Iterator[Mutation]:
    """Index tuples (``m[i, j]``), unpacking targets and short literals returned or assigned."""
    parent = src.parent(node)
    is_index = isinstance(parent, cst.Index)
    is_target = isinstance(parent, cst.AssignTarget | cst.For)
    is_value = isinstance(parent, cst.Return | cst.Assign)
    names_only = all(isinstance(e.value, cst.Name) for e in node.elements)
    if not (is_index or is_target or is_value or names_only) or len(node.elements) > _MAX_ARGS:
        return
    if any(isinstance(e, cst.StarredElement) for e in node.elements):
        return
    weight = 0.6 if is_index else 0.4 if (is_target or is_value) else 0.3
    for i, j, pair_weight in _pairs(len(node.elements)):
        a, b = node.elements[i], node.elements[j]
        if code_of(a.value) == code_of(b.value):
            continue
        elements = _swapped_values(node.elements, i, j)
        yield replace(
            node,
            node.with_changes(elements=elements),
            f"swap '{code_of(a.value)}' and '{code_of(b.value)}'",
            weight * pair_weight,
        )


def _subscript(node: cst.Subscript) -> Iterator[Mutation]:
    """``m[i, j]`` -> ``m[j, i]``."""
    elements = node.slice
    if len(elements) < 2 or not all(isinstance(e.slice, cst.Index) for e in elements):
        return
    for i, j, pair_weight in _pairs(len(elements)):
        a, b = elements[i], elements[j]
        if code_of(a.slice) == code_of(b.slice):
            continue
        swapped = list(elements)
        swapped[i] = a.with_changes(slice=b.slice)
        swapped[j] = b.with_changes(slice=a.slice)
        yield replace(
            node,
            node.with_changes(slice=swapped),
            f"swap indices '{code_of(a.slice)}' and '{code_of(b.slice)}'",
            0.6 * pair_weight,
        )


def _conditional(node: cst.IfExp) -> Iterator[Mutation]:
    new = node.with_changes(body=node.orelse, orelse=node.body)
    yield replace(node, new, "swap the branches of a conditional expression", 0.5)


def generate(src: SourceFile) -> Iterator[Mutation]:
    """Swap two call arguments, the operands of a non-commutative operator or of an ordered
    comparison, two elements of an index tuple, unpacking target or short returned literal, or
    the branches of ``x if c else y``.

    Repairs QuixBugs "variable swap", HumanEvalFix *variable misuse* by order and the *swap
    arguments* SStuB pattern.
    """
    kinds = (
        cst.Call,
        cst.BinaryOperation,
        cst.Comparison,
        cst.Tuple,
        cst.List,
        cst.IfExp,
        cst.Subscript,
    )
    for node in src.sites_of(kinds):
        if isinstance(node, cst.Subscript):
            yield from _subscript(node)
        elif isinstance(node, cst.Call):
            yield from _calls(src, node)
        elif isinstance(node, cst.BinaryOperation):
            yield from _binary(src, node)
        elif isinstance(node, cst.Comparison):
            yield from _comparison(src, node)
        elif isinstance(node, cst.IfExp):
            yield from _conditional(node)
        else:
            yield from _tuples(src, node)
