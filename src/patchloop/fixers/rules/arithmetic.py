"""Arithmetic operator misuse: ``+`` for ``-``, ``/`` for ``//``, ``^=`` for ``&=``, ..."""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from patchloop.fixers._source import SourceFile
from patchloop.fixers._types import Mutation
from patchloop.fixers.rules._roles import roles
from patchloop.fixers.rules._util import code_of, make_op, replace

NAME = "arithmetic"
PRIOR = 0.9

_BIN: dict[type[cst.BaseBinaryOp], str] = {
    cst.Add: "+",
    cst.Subtract: "-",
    cst.Multiply: "*",
    cst.Divide: "/",
    cst.FloorDivide: "//",
    cst.Modulo: "%",
    cst.Power: "**",
    cst.LeftShift: "<<",
    cst.RightShift: ">>",
    cst.BitAnd: "&",
    cst.BitOr: "|",
    cst.BitXor: "^",
}
# Close confusions first: sign (+/-), true vs floor division, quotient vs remainder, bitwise
# siblings. Weights rank the alternatives of one operator.
_ALTERNATIVES: dict[type[cst.BaseBinaryOp], tuple[tuple[type[cst.BaseBinaryOp], float], ...]] = {
    cst.Add: ((cst.Subtract, 1.0), (cst.Multiply, 0.3)),
    cst.Subtract: ((cst.Add, 1.0), (cst.Modulo, 0.3), (cst.FloorDivide, 0.3), (cst.Multiply, 0.2)),
    cst.Multiply: (
        (cst.FloorDivide, 0.5),
        (cst.Divide, 0.45),
        (cst.Add, 0.4),
        (cst.Power, 0.4),
        (cst.Subtract, 0.2),
    ),
    cst.Divide: ((cst.FloorDivide, 1.0), (cst.Multiply, 0.5), (cst.Modulo, 0.3)),
    cst.FloorDivide: ((cst.Divide, 1.0), (cst.Modulo, 0.6), (cst.Multiply, 0.4)),
    cst.Modulo: ((cst.FloorDivide, 0.6), (cst.Divide, 0.4), (cst.Subtract, 0.3)),
    cst.Power: ((cst.Multiply, 0.7),),
    cst.LeftShift: ((cst.RightShift, 1.0),),
    cst.RightShift: ((cst.LeftShift, 1.0),),
    cst.BitAnd: ((cst.BitOr, 0.7), (cst.BitXor, 0.6)),
    cst.BitOr: ((cst.BitAnd, 0.7), (cst.BitXor, 0.6)),
    cst.BitXor: ((cst.BitAnd, 0.7), (cst.BitOr, 0.7)),
}
_AUG: dict[type[cst.BaseAugOp], type[cst.BaseBinaryOp]] = {
    cst.AddAssign: cst.Add,
    cst.SubtractAssign: cst.Subtract,
    cst.MultiplyAssign: cst.Multiply,
    cst.DivideAssign: cst.Divide,
    cst.FloorDivideAssign: cst.FloorDivide,
    cst.ModuloAssign: cst.Modulo,
    cst.PowerAssign: cst.Power,
    cst.LeftShiftAssign: cst.LeftShift,
    cst.RightShiftAssign: cst.RightShift,
    cst.BitAndAssign: cst.BitAnd,
    cst.BitOrAssign: cst.BitOr,
    cst.BitXorAssign: cst.BitXor,
}
_AUG_OF = {v: k for k, v in _AUG.items()}


_SEQUENCE_OPS = (cst.Add, cst.Multiply, cst.Modulo)
_SET_OPS = (cst.Subtract, cst.BitOr, cst.BitAnd, cst.BitXor)
_STRINGS = (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)
_SEQUENCES = (cst.List, cst.ListComp, cst.Tuple)
_SETS = (cst.Set, cst.SetComp)


def _kind(src: SourceFile, expr: cst.BaseExpression) -> str | None:
    """``sequence`` or ``set`` when the operand is known to be one (literal or clear use)."""
    if isinstance(expr, (*_STRINGS, *_SEQUENCES)):
        return "sequence"
    if isinstance(expr, _SETS):
        return "set"
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name):
        return {"str": "sequence", "list": "sequence", "set": "set", "frozenset": "set"}.get(
            expr.func.value
        )
    if isinstance(expr, cst.BinaryOperation):
        return _kind(src, expr.left) or _kind(src, expr.right)
    if isinstance(expr, cst.Name):
        used = roles(src, src.function_of(expr)).get(expr.value, set())
        if "number" not in used and used & {"string", "list"}:
            return "sequence"
        if "number" not in used and "set" in used:
            return "set"
    return None


def _allowed(src: SourceFile, operands: tuple[cst.BaseExpression, ...]) -> tuple[type, ...] | None:
    """Operators that make sense for these operands; ``None``: any (numbers or unknown)."""
    kinds = {_kind(src, e) for e in operands} - {None}
    if "sequence" in kinds:
        return _SEQUENCE_OPS  # concatenation, repetition, formatting: no other operator
    if "set" in kinds:
        return _SET_OPS
    return None


def _binary(src: SourceFile, node: cst.BinaryOperation) -> Iterator[Mutation]:
    old = node.operator
    allowed = _allowed(src, (node.left, node.right))
    if allowed is not None and not isinstance(old, allowed):
        return
    for cls, weight in _ALTERNATIVES.get(type(old), ()):
        if allowed is not None and not issubclass(cls, allowed):
            continue
        yield replace(
            node,
            node.with_changes(operator=make_op(cls, old)),
            f"'{_BIN[type(old)]}' -> '{_BIN[cls]}'",
            weight,
            line=src.line(node.right),
        )


_PRECEDENCE = {
    cst.Add: 5,
    cst.Subtract: 5,
    cst.Multiply: 6,
    cst.Divide: 6,
    cst.FloorDivide: 6,
    cst.Modulo: 6,
    cst.Power: 8,
}


def _regroup(src: SourceFile, node: cst.BinaryOperation) -> Iterator[Mutation]:
    """``a - b // c`` -> ``(a - b) // c`` and ``a * b + c`` -> ``a * (b + c)``."""
    outer = _PRECEDENCE.get(type(node.operator))
    if outer is None:
        return
    right, left = node.right, node.left
    if isinstance(right, cst.BinaryOperation) and not right.lpar:
        inner = _PRECEDENCE.get(type(right.operator))
        if inner is not None and inner > outer:
            grouped = cst.BinaryOperation(
                left=node.left,
                operator=node.operator,
                right=right.left,
                lpar=[cst.LeftParen()],
                rpar=[cst.RightParen()],
            )
            new = right.with_changes(left=grouped, lpar=node.lpar, rpar=node.rpar)
            yield replace(node, new, f"regroup '{code_of(node)}'", 0.4)
    if isinstance(left, cst.BinaryOperation) and not left.lpar:
        inner = _PRECEDENCE.get(type(left.operator))
        if inner is not None and inner > outer:
            grouped = cst.BinaryOperation(
                left=left.right,
                operator=node.operator,
                right=node.right,
                lpar=[cst.LeftParen()],
                rpar=[cst.RightParen()],
            )
            new = left.with_changes(right=grouped, lpar=node.lpar, rpar=node.rpar)
            yield replace(node, new, f"regroup '{code_of(node)}'", 0.35)


def _augmented(src: SourceFile, stmt: cst.AugAssign) -> Iterator[Mutation]:
    old = stmt.operator
    base = _AUG.get(type(old))
    if base is None:
        return
    allowed = _allowed(src, (stmt.target, stmt.value))
    for cls, weight in _ALTERNATIVES.get(base, ()):
        if allowed is not None and not issubclass(cls, allowed):
            continue
        yield replace(
            stmt,
            stmt.with_changes(operator=make_op(_AUG_OF[cls], old)),
            f"'{_BIN[base]}=' -> '{_BIN[cls]}='",
            weight,
        )
    plain = cst.Assign(
        targets=[cst.AssignTarget(target=stmt.target)],
        value=stmt.value,
    )
    yield replace(stmt, plain, f"'{_BIN[base]}=' -> '='", 0.3)


def generate(src: SourceFile) -> Iterator[Mutation]:
    """Replace one arithmetic or bitwise operator (also in ``op=``), drop a unary minus, or
    regroup an expression that mixes precedences (``a - b // c`` -> ``(a - b) // c``).

    Repairs QuixBugs "incorrect assignment operator", HumanEvalFix *operator misuse* and the
    *change binary/unary operator* SStuB patterns.
    """
    for node in src.sites_of((cst.BinaryOperation, cst.AugAssign, cst.UnaryOperation)):
        if isinstance(node, cst.BinaryOperation):
            yield from _binary(src, node)
            yield from _regroup(src, node)
        elif isinstance(node, cst.AugAssign):
            yield from _augmented(src, node)
        elif isinstance(node.operator, cst.Minus | cst.BitInvert) and not isinstance(
            node.expression, cst.Integer | cst.Float
        ):
            inner = node.expression
            yield replace(node, inner, "drop unary minus", 0.5)
