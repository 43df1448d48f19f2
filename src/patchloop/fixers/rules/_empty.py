"""The empty value (``0``, ``''``, ``[]``, ...) of the type an expression evidently has."""

from __future__ import annotations

import libcst as cst

__all__ = ["empty_value"]

# Builtins whose result type is fixed, by the empty value of that type.
_CALLS = {
    "len": "0",
    "sum": "0",
    "int": "0",
    "abs": "0",
    "round": "0",
    "ord": "0",
    "float": "0.0",
    "str": "''",
    "repr": "''",
    "chr": "''",
    "list": "[]",
    "sorted": "[]",
    "dict": "{}",
    "set": "set()",
    "bool": "False",
    "all": "False",
    "any": "False",
    "isinstance": "False",
    "callable": "False",
}
# Methods that return a string, whatever object they are called on.
_STR_METHODS = frozenset(
    {
        "join",
        "strip",
        "lstrip",
        "rstrip",
        "lower",
        "upper",
        "casefold",
        "title",
        "capitalize",
        "swapcase",
        "replace",
        "format",
    }
)
_COUNTS = frozenset({"count"})


def empty_value(expr: cst.BaseExpression) -> str | None:
    """The empty value of the type ``expr`` evaluates to, when its form says the type.

    ``len(xs)`` -> ``0``, ``' '.join(ws)`` -> ``''``, ``[f(x) for x in xs]`` -> ``[]``,
    ``a < b`` -> ``False``; ``None`` when the form does not tell (a name, an unknown call).
    """
    if isinstance(expr, cst.Integer):
        return "0"
    if isinstance(expr, cst.Float):
        return "0.0"
    if isinstance(expr, cst.SimpleString | cst.FormattedString | cst.ConcatenatedString):
        return "b''" if _is_bytes(expr) else "''"
    if isinstance(expr, cst.List | cst.ListComp):
        return "[]"
    if isinstance(expr, cst.Dict | cst.DictComp):
        return "{}"
    if isinstance(expr, cst.Set | cst.SetComp):
        return "set()"
    if isinstance(expr, cst.Comparison) or (
        isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not)
    ):
        return "False"
    if isinstance(expr, cst.Call):
        return _call_value(expr)
    if isinstance(expr, cst.BinaryOperation):
        if isinstance(expr.operator, cst.Divide):
            return "0.0"
        for side in (expr.left, expr.right):
            if (value := empty_value(side)) in ("0", "0.0", "''", "b''", "[]"):
                return value
    return None


def _call_value(call: cst.Call) -> str | None:
    func = call.func
    if isinstance(func, cst.Name):
        return _CALLS.get(func.value)
    if isinstance(func, cst.Attribute):
        if func.attr.value in _STR_METHODS and not _is_bytes(func.value):
            return "''"
        if func.attr.value in _COUNTS:
            return "0"
    return None


def _is_bytes(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.SimpleString):
        return "b" in expr.prefix.lower()
    if isinstance(expr, cst.ConcatenatedString):
        return _is_bytes(expr.left)
    return False
