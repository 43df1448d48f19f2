"""Excess logic inside an expression: an extra operand, term or argument."""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from patchloop.fixers._source import SourceFile
from patchloop.fixers._types import Mutation
from patchloop.fixers.rules._util import code_of, fit, replace, unparen

NAME = "excess"
PRIOR = 0.55

_ARITHMETIC = (
    cst.Add,
    cst.Subtract,
    cst.Multiply,
    cst.Divide,
    cst.FloorDivide,
    cst.Modulo,
    cst.Power,
)


def _operands(src: SourceFile, node: cst.BinaryOperation) -> Iterator[Mutation]:
    if not isinstance(node.operator, _ARITHMETIC):
        return
    parent = src.parent(node)
    for keep, drop, weight in ((node.left, node.right, 0.45), (node.right, node.left, 0.4)):
        new = fit(parent, node, unparen(keep))
        yield replace(node, new, f"drop operand '{code_of(drop)}'", weight)
    left = node.left
    if (
        isinstance(left, cst.BinaryOperation)
        and not left.lpar
        and isinstance(left.operator, _ARITHMETIC)
    ):
        # ``a op1 b op2 c``: drop the middle term with either operator.
        for op in (left.operator, node.operator):
            probe = node.with_changes(left=unparen(left.left), operator=op)
            new = probe.with_changes(
                left=fit(probe, left.left, unparen(left.left)),
                right=fit(probe, node.right, node.right),
            )
            yield replace(
                node, fit(parent, node, new), f"drop the middle term '{code_of(left.right)}'", 0.4
            )


def _arguments(node: cst.Call) -> Iterator[Mutation]:
    if len(node.args) < 2 or any(a.star for a in node.args):
        return
    for i, arg in enumerate(node.args):
        args = [a for j, a in enumerate(node.args) if j != i]
        args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        yield replace(node, node.with_changes(args=args), f"drop argument '{code_of(arg)}'", 0.3)


def generate(src: SourceFile) -> Iterator[Mutation]:
    """Drop one operand of an arithmetic operation (``1 + f(x)`` -> ``f(x)``), the middle term
    of a chain (``a * b * c`` -> ``a * c``), or one argument of a call.

    Repairs HumanEvalFix *excess logic* and the *same function less args* SStuB pattern.
    """
    for node in src.sites_of((cst.BinaryOperation, cst.Call)):
        if isinstance(node, cst.BinaryOperation):
            yield from _operands(src, node)
        else:
            yield from _arguments(node)
