"""How each variable of a function is used, so that substitutes of compatible use come first."""

from __future__ import annotations

import libcst as cst

from patchloop.fixers._source import SourceFile
from patchloop.fixers.rules._util import walk

__all__ = ["roles", "similarity"]

_CONTAINER_CALLS = {
    "len",
    "sorted",
    "sum",
    "list",
    "set",
    "tuple",
    "enumerate",
    "zip",
    "reversed",
    "any",
    "all",
    "dict",
    "iter",
    "next",
    "min",
    "max",
}
_METHOD_ROLES = {
    **dict.fromkeys(
        (
            "lower",
            "upper",
            "strip",
            "lstrip",
            "rstrip",
            "split",
            "rsplit",
            "find",
            "rfind",
            "startswith",
            "endswith",
            "isdigit",
            "isalpha",
            "isspace",
            "replace",
            "join",
            "encode",
            "format",
            "splitlines",
            "title",
            "capitalize",
            "swapcase",
            "zfill",
        ),
        "string",
    ),
    **dict.fromkeys(("append", "extend", "insert", "sort", "reverse"), "list"),
    **dict.fromkeys(("add", "discard", "union", "intersection", "difference"), "set"),
    **dict.fromkeys(("items", "keys", "values", "get", "setdefault"), "dict"),
    **dict.fromkeys(("popleft", "appendleft"), "list"),
}
_NUMBER_CALLS = {"range", "abs", "int", "float", "round", "chr", "bin", "hex", "divmod", "pow"}
_ARITH = (
    cst.Subtract,
    cst.Multiply,
    cst.Divide,
    cst.FloorDivide,
    cst.Modulo,
    cst.Power,
    cst.LeftShift,
    cst.RightShift,
    cst.BitAnd,
    cst.BitOr,
    cst.BitXor,
)
_CONTAINERS = (
    cst.List,
    cst.Dict,
    cst.Set,
    cst.Tuple,
    cst.ListComp,
    cst.DictComp,
    cst.SetComp,
    cst.GeneratorExp,
)


def _value_role(value: cst.BaseExpression) -> str | None:
    if isinstance(value, cst.Integer | cst.Float):
        return "number"
    if isinstance(value, cst.BinaryOperation) and isinstance(value.operator, _ARITH):
        return "number"
    if isinstance(value, cst.SimpleString | cst.FormattedString | cst.ConcatenatedString):
        return "string"
    if isinstance(value, _CONTAINERS):
        return "container"
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Name):
        if value.func.value in ("list", "set", "dict", "tuple", "sorted", "deque"):
            return "container"
        if value.func.value in ("len", "int", "abs", "sum", "round"):
            return "number"
    return None


def _use_role(src: SourceFile, node: cst.Name) -> str | None:
    parent = src.parent(node)
    if isinstance(parent, cst.Attribute):
        # The methods called on a value say what it is: ``xs.append`` is a list.
        return _METHOD_ROLES.get(parent.attr.value, "object")
    if isinstance(parent, cst.Subscript):
        return "container"
    if isinstance(parent, cst.Index | cst.Slice):
        return "number"
    if isinstance(parent, cst.BinaryOperation):
        other = parent.right if parent.left is node else parent.left
        if isinstance(parent.operator, _ARITH) or isinstance(other, cst.Integer | cst.Float):
            return "number"
        return "addable"
    if isinstance(parent, cst.AugAssign):
        return "number" if isinstance(parent.value, cst.Integer | cst.Float) else "addable"
    if isinstance(parent, cst.For | cst.CompFor) and parent.iter is node:
        return "container"
    if isinstance(parent, cst.If | cst.While) and parent.test is node:
        return "flag"
    if isinstance(parent, cst.ComparisonTarget):
        if isinstance(parent.operator, cst.In | cst.NotIn):
            return "container"
        return "number"
    if isinstance(parent, cst.Comparison):
        target = parent.comparisons[0]
        if isinstance(target.operator, cst.In | cst.NotIn):
            return "element"
        return "number" if isinstance(target.comparator, cst.Integer | cst.Float) else None
    if isinstance(parent, cst.Arg):
        call = src.parent(parent)
        if isinstance(call, cst.Call) and isinstance(call.func, cst.Name):
            if call.func.value in _CONTAINER_CALLS:
                return "container"
            if call.func.value in _NUMBER_CALLS:
                return "number"
    return None


def roles(src: SourceFile, fn: cst.FunctionDef | None) -> dict[str, set[str]]:
    """Name -> the kinds of use seen in ``fn`` (``number``, ``container``, ``object``, ...)."""
    key = ("roles", fn)
    cached = src.cache.get(key)
    if isinstance(cached, dict):
        return cached
    out: dict[str, set[str]] = {}
    root: cst.CSTNode = fn if fn is not None else src.module
    for node in walk(root, (cst.Name, cst.Assign, cst.For), src=src):
        if isinstance(node, cst.Name):
            role = _use_role(src, node) if src.is_load(node) else None
            if role:
                out.setdefault(node.value, set()).add(role)
        elif isinstance(node, cst.Assign):
            role = _value_role(node.value)
            for target in node.targets if role else ():
                if isinstance(target.target, cst.Name):
                    out.setdefault(target.target.value, set()).add(str(role))
        elif isinstance(node.target, cst.Name) and _is_range(node.iter):
            out.setdefault(node.target.value, set()).add("number")
    src.cache[key] = out
    return out


def _is_range(expr: cst.BaseExpression) -> bool:
    return (
        isinstance(expr, cst.Call)
        and isinstance(expr.func, cst.Name)
        and expr.func.value == "range"
    )


def similarity(a: set[str], b: set[str]) -> float:
    """Jaccard similarity of two role sets; 0.3 when either is unknown (above a known clash)."""
    if not a or not b:
        return 0.3
    return len(a & b) / len(a | b)
