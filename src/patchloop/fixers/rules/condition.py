"""Wrong conditions: negated, too strict (an extra conjunct) or too loose (a missing one)."""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from patchloop.fixers._source import SourceFile
from patchloop.fixers._types import Mutation
from patchloop.fixers.rules._util import code_of, mentioned_names, paren, replace, unparen, walk

NAME = "condition"
PRIOR = 0.7

_MAX_ADDED = 4
_CONSUMERS = ("pop", "popleft", "popitem", "get", "get_nowait")
_EXITS = (cst.Return, cst.Raise, cst.Continue, cst.Break)


def _tests(src: SourceFile) -> Iterator[cst.BaseExpression]:
    """Expressions used as conditions at the sites."""
    for node in src.sites:
        if isinstance(node, cst.If | cst.While | cst.IfExp | cst.CompIf | cst.Assert):
            yield node.test


def _negate(expr: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
        inner = expr.expression
        return inner.with_changes(lpar=expr.lpar, rpar=expr.rpar) if expr.lpar else inner
    return cst.UnaryOperation(operator=cst.Not(), expression=paren(unparen(expr)))


def _operands(node: cst.BooleanOperation) -> list[cst.BaseExpression]:
    """Operands of a chain of the same boolean operator (``a and b and c``)."""
    out: list[cst.BaseExpression] = []
    for side in (node.left, node.right):
        if (
            isinstance(side, cst.BooleanOperation)
            and type(side.operator) is type(node.operator)
            and not side.lpar
        ):
            out.extend(_operands(side))
        else:
            out.append(side)
    return out


def _operand(src: SourceFile, expr: cst.BaseExpression, word: str) -> cst.BaseExpression:
    """``expr`` as an operand of a new ``and``/``or``: parenthesized only where needed."""
    if expr.lpar and "\n" in src.code(expr):
        return expr  # its line breaks need the parentheses
    expr = unparen(expr)
    loose = (cst.IfExp, cst.Lambda, cst.NamedExpr)
    if isinstance(expr, loose) or (
        word == "and"
        and isinstance(expr, cst.BooleanOperation)
        and isinstance(expr.operator, cst.Or)
    ):
        return paren(expr)
    return expr


def _chain(operands: list[cst.BaseExpression], op: cst.BaseBooleanOp) -> cst.BaseExpression:
    result = operands[0]
    for operand in operands[1:]:
        result = cst.BooleanOperation(left=result, operator=op, right=operand)
    return result


def _is_condition(src: SourceFile, node: cst.BooleanOperation) -> bool:
    parent = src.parent(node)
    return not (
        isinstance(parent, cst.BooleanOperation)
        and type(parent.operator) is type(node.operator)
        and not node.lpar
    )


def _dereferenced(src: SourceFile, expr: cst.BaseExpression) -> list[str]:
    """Names whose attributes or items ``expr`` reads (candidates for a ``None`` check)."""
    names: list[str] = []
    for node in walk(expr, (cst.Attribute, cst.Subscript), src=src):
        if isinstance(node.value, cst.Name) and node.value.value not in names:
            names.append(node.value.value)
    return names


def _guards_exit(node: cst.If) -> bool:
    body = node.body
    if isinstance(body, cst.SimpleStatementSuite):
        return any(isinstance(s, _EXITS) for s in body.body)
    last = body.body[-1] if body.body else None
    return isinstance(last, cst.SimpleStatementLine) and any(
        isinstance(s, _EXITS) for s in last.body
    )


def _drop_operands(src: SourceFile) -> Iterator[Mutation]:
    for node in src.sites_of(cst.BooleanOperation):
        if not _is_condition(src, node):
            continue
        operands = _operands(node)
        word = "and" if isinstance(node.operator, cst.And) else "or"
        for i, operand in enumerate(operands):
            rest = operands[:i] + operands[i + 1 :]
            if len(rest) == 1:
                new = paren(rest[0]) if node.lpar else rest[0]
            else:
                new = _chain(rest, node.operator).with_changes(lpar=node.lpar, rpar=node.rpar)
            yield replace(node, new, f"drop '{word} {code_of(operand)}'", 0.6)
            yield replace(operand, _negate(operand), f"negate operand '{code_of(operand)}'", 0.35)


def _strengthen(
    src: SourceFile, test: cst.BaseExpression, owner: cst.CSTNode
) -> Iterator[Mutation]:
    """Add a missing ``x is None or ...`` / ``not x or ...`` to an early-exit condition."""
    is_exit = isinstance(owner, cst.If) and _guards_exit(owner)
    mentioned = mentioned_names(test, src)
    guarded = [n for n in _dereferenced(src, test) if n != "self"]
    indent = src.indent_of(test)
    as_or = src.render(_operand(src, test, "or"), indent)
    as_and = src.render(_operand(src, test, "and"), indent)
    for name in guarded[:_MAX_ADDED]:
        if is_exit:
            yield replace(test, f"{name} is None or {as_or}", f"add '{name} is None or'", 0.5)
        else:
            new = f"{name} is not None and {as_and}"
            yield replace(test, new, f"add '{name} is not None and'", 0.4)
    if not is_exit:
        return
    scope = src.scope_of(owner)
    candidates = [p for p in scope.params if p not in mentioned and p not in ("self", "cls")]
    for name in candidates[:_MAX_ADDED]:
        new = f"{as_or} or not {name}"
        yield replace(test, new, f"add 'or not {name}'", 0.3)


def _loop_conditions(src: SourceFile, node: cst.While) -> Iterator[Mutation]:
    """``while True`` over a collection that is consumed: loop while it is not empty."""
    if not (isinstance(node.test, cst.Name) and node.test.value in ("True", "1")):
        return
    consumed: list[str] = []
    for call in walk(node.body, cst.Call, src=src):
        func = call.func
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.attr.value in _CONSUMERS
            and func.value.value not in consumed
        ):
            consumed.append(func.value.value)
    for name in consumed[:_MAX_ADDED]:
        yield replace(node.test, cst.Name(name), f"'while True' -> 'while {name}'", 0.7)


def generate(src: SourceFile) -> Iterator[Mutation]:
    """Negate a condition, drop or negate one operand of ``and``/``or``, or add a guard.

    Repairs the *more/less specific if* SStuB patterns, QuixBugs "missing condition" and
    HumanEvalFix missing/excess logic in conditions: a condition that must also exclude ``None``
    or an empty input before an early exit, or a ``while True`` that must stop when a consumed
    collection runs empty.
    """
    for test in _tests(src):
        owner = src.parent(test)
        single = isinstance(test, cst.Comparison) and len(test.comparisons) == 1
        if not single:  # a lone comparison is negated by the comparison template already
            yield replace(test, _negate(test), f"negate '{code_of(test)}'", 0.6)
        if owner is not None:
            yield from _strengthen(src, test, owner)
    yield from _drop_operands(src)
    for node in src.sites_of(cst.While):
        yield from _loop_conditions(src, node)
