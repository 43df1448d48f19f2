"""Wrong return values: another value in scope, a negated result, ``None`` from an in-place call."""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from patchloop.fixers._source import SourceFile
from patchloop.fixers._types import Insert, Mutation, Replace
from patchloop.fixers.rules._util import code_of, functions_at, paren, replace, unparen, walk

NAME = "returns"
PRIOR = 0.6

MAX_VALUES = 3
# Methods that change their object in place and return None.
_IN_PLACE = {
    "sort",
    "reverse",
    "append",
    "extend",
    "insert",
    "update",
    "add",
    "clear",
    "remove",
    "discard",
    "setdefault",
}
_BOOLEAN_CALLS = ("is", "has", "startswith", "endswith", "isdigit", "isalpha", "all", "any")


def _is_boolean(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.BooleanOperation):
        return True
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
        return True
    if isinstance(expr, cst.Comparison):
        return len(expr.comparisons) > 1
    if isinstance(expr, cst.Call):
        func = expr.func
        name = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", "")
        return isinstance(name, str) and name.startswith(_BOOLEAN_CALLS)
    return False


def _negated(expr: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
        return expr.expression
    return cst.UnaryOperation(
        operator=cst.Not(whitespace_after=cst.SimpleWhitespace(" ")),
        expression=paren(unparen(expr)),
    )


def _in_place(src: SourceFile, node: cst.Return, value: cst.BaseExpression) -> Iterator[Mutation]:
    """``return xs.sort()`` returns None: return the object (after the call)."""
    if not (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)):
        return
    func = value.func
    if func.attr.value not in _IN_PLACE or not isinstance(func.value, cst.Name | cst.Attribute):
        return
    obj = func.value
    yield replace(value, obj, f"return '{code_of(obj)}' instead of the in-place call", 0.6)
    stmt = src.parent(node)
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        yield Mutation(
            edits=(Insert(stmt, src.render(value, "")), Replace(value, obj)),
            description=f"call '{code_of(value)}', then return '{code_of(obj)}'",
            weight=0.5,
        )


def _final_flag(src: SourceFile, node: cst.Return, value: cst.BaseExpression) -> Iterator[Mutation]:
    """``return True`` at the end although a counter was kept: return whether it is zero."""
    if not (isinstance(value, cst.Name) and value.value in ("True", "False")):
        return
    scope = src.scope_of(node)
    for name in sorted(scope.augmented)[:MAX_VALUES]:
        yield replace(value, f"{name} == 0", f"'{value.value}' -> '{name} == 0'", 0.35)
        yield replace(value, f"not {name}", f"'{value.value}' -> 'not {name}'", 0.25)


def _function_returns(src: SourceFile, fn: cst.FunctionDef) -> list[cst.Return]:
    return walk(fn, cst.Return, stop=(cst.FunctionDef, cst.Lambda), src=src)


def _inverted(src: SourceFile) -> Iterator[Mutation]:
    """Every ``return True`` <-> ``return False`` of a predicate at once: inverted polarity."""
    for fn in functions_at(src):
        flags = [
            r.value
            for r in _function_returns(src, fn)
            if isinstance(r.value, cst.Name) and r.value.value in ("True", "False")
        ]
        if len(flags) < 2 or len({f.value for f in flags}) < 2:
            continue
        edits = tuple(Replace(f, "False" if f.value == "True" else "True") for f in flags)
        yield Mutation(
            edits=edits,
            description=f"invert every boolean return of '{fn.name.value}'",
            weight=0.8,
            line=src.covered_line(fn),
        )


def generate(src: SourceFile) -> Iterator[Mutation]:
    """Return a different value: the negated result, another value bound in the function, the
    object an in-place method changed (``return xs.sort()`` -> ``return xs``), or the state of
    a counter instead of a constant ``True``.

    Repairs wrong-return bugs of HumanEvalFix (*value misuse*, *excess logic*) and QuixBugs
    "missing condition" at a final ``return``.
    """
    for node in src.sites_of(cst.Return):
        value = node.value
        if value is None:
            continue
        if _is_boolean(value) or (
            isinstance(value, cst.Name) and value.value not in ("True", "False", "None")
        ):
            yield replace(value, _negated(value), f"negate the returned '{code_of(value)}'", 0.3)
        yield from _in_place(src, node, value)
        yield from _final_flag(src, node, value)
        if isinstance(value, cst.Name):
            continue  # the names template replaces a returned variable already
        for rank, other in enumerate(src.visible_values(node)[:MAX_VALUES]):
            yield replace(value, cst.Name(other), f"return '{other}'", 0.3 * 0.9**rank)
    yield from _inverted(src)
