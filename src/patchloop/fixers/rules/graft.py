"""Wrong operand: an expression where another expression of the same function was meant."""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from patchloop.fixers._source import SourceFile
from patchloop.fixers._types import Mutation
from patchloop.fixers.rules._util import code_of, fit, replace, walk

NAME = "graft"
PRIOR = 0.25

MAX_GRAFTS = 4
MAX_LENGTH = 40
_CONSTANTS = {"True", "False", "None", "self", "cls"}
_SMALL_CALLS = {
    "len",
    "abs",
    "min",
    "max",
    "sum",
    "int",
    "str",
    "float",
    "sorted",
    "list",
    "set",
    "ord",
    "chr",
}
_SIMPLE_ARGS = (cst.Name, cst.Attribute, cst.SimpleString, cst.Integer)


def _is_operand(src: SourceFile, node: cst.CSTNode) -> bool:
    parent = src.parent(node)
    if isinstance(parent, cst.BinaryOperation | cst.Comparison | cst.ComparisonTarget):
        return True
    if isinstance(parent, cst.Arg | cst.Index | cst.Return):
        return True
    return isinstance(parent, cst.AssignTarget | cst.Assign)


def _pool(src: SourceFile, fn: cst.FunctionDef) -> list[tuple[int, str, cst.BaseExpression]]:
    """Side-effect-free expressions of ``fn``: subscripts and attributes of names, small calls."""
    found: dict[str, tuple[int, str, cst.BaseExpression]] = {}
    for node in walk(fn.body, (cst.Subscript, cst.Attribute, cst.Call), src=src):
        if isinstance(node, cst.Call):
            if not (
                isinstance(node.func, cst.Name)
                and node.func.value in _SMALL_CALLS
                and all(isinstance(a.value, _SIMPLE_ARGS) for a in node.args)
            ):
                continue
        elif not isinstance(node.value, cst.Name):
            continue
        parent = src.parent(node)
        if isinstance(parent, cst.Call) and parent.func is node:
            continue
        text = " ".join(src.code(node).split())
        if len(text) <= MAX_LENGTH and text not in found:
            found[text] = (src.line(node), text, node)
    return list(found.values())


def generate(src: SourceFile) -> Iterator[Mutation]:
    """Replace an operand, argument, index or assignment target by another side-effect-free
    expression of the same function: a name by ``len(xs)`` or ``d[k]``, a call or subscript by a
    variable or another subscript.

    Repairs QuixBugs "incorrect variable" beyond single names and the *change operand* SStuB
    pattern, drawing replacements from the surrounding code (the plastic-surgery hypothesis:
    fixes are often made of code that is already there).
    """
    pools: dict[cst.FunctionDef, list[tuple[int, str, cst.BaseExpression]]] = {}
    for node in src.sites_of((cst.Name, cst.Subscript, cst.Attribute, cst.Call)):
        if isinstance(node, cst.Name) and (not src.is_load(node) or node.value in _CONSTANTS):
            continue
        if isinstance(node, cst.Call) and not isinstance(node.func, cst.Name):
            continue
        parent = src.parent(node)
        store = isinstance(parent, cst.AssignTarget)
        if not _is_operand(src, node) or (
            isinstance(node, cst.Name) and isinstance(parent, cst.Index)
        ):
            continue
        fn = src.function_of(node)
        if fn is None:
            continue
        if fn not in pools:
            pools[fn] = _pool(src, fn)
        own = code_of(node)
        line = src.line(node)
        near = sorted(pools[fn], key=lambda p: (type(p[2]) is not type(node), abs(p[0] - line)))
        options = [(text, expr) for _, text, expr in near if text != own and own not in text]
        if store:
            options = [(t, e) for t, e in options if isinstance(e, cst.Subscript | cst.Attribute)]
        elif not isinstance(node, cst.Name):
            names: list[tuple[str, cst.BaseExpression]] = [
                (n, cst.Name(n)) for n in src.visible_values(node) if n not in own
            ]
            small = isinstance(node, cst.Call) and code_of(node.func) in _SMALL_CALLS
            if isinstance(node, cst.Call) and not small:
                options = names[:2] + options[:2]  # a result replaced by a variable
            else:
                options = options[:2] + names[:2]
        for rank, (text, expr) in enumerate(options[:MAX_GRAFTS]):
            new = fit(parent, node, expr.with_changes(lpar=[], rpar=[]))
            yield replace(node, new, f"'{own}' -> '{text}'", 0.9**rank)
