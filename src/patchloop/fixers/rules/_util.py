"""Small libcst helpers shared by the repair templates."""

from __future__ import annotations

from typing import Any, TypeVar, overload

import libcst as cst

from patchloop.fixers._source import SourceFile
from patchloop.fixers._types import Mutation, Replace

N = TypeVar("N", bound=cst.CSTNode)

__all__ = [
    "ATOMIC",
    "binop",
    "code_of",
    "first_statement",
    "fit",
    "functions_at",
    "is_recursive_call",
    "make_call",
    "make_op",
    "mentioned_names",
    "paren",
    "replace",
    "unparen",
    "walk",
]

# Expressions that never need parentheses when moved into another expression.
ATOMIC = (
    cst.Name,
    cst.Attribute,
    cst.Call,
    cst.Subscript,
    cst.Integer,
    cst.Float,
    cst.Imaginary,
    cst.SimpleString,
    cst.FormattedString,
    cst.List,
    cst.Set,
    cst.Dict,
    cst.ListComp,
    cst.SetComp,
    cst.DictComp,
    cst.GeneratorExp,
)
_KEYWORD_OPS = (cst.Is, cst.IsNot, cst.In, cst.NotIn, cst.And, cst.Or)
_SPACE = cst.SimpleWhitespace(" ")


def _spaced(ws: Any) -> Any:
    if isinstance(ws, cst.SimpleWhitespace) and ws.value == "":
        return _SPACE
    return ws


def make_op(cls: type[Any], old: Any) -> Any:
    """An operator of type ``cls`` with the whitespace of ``old`` (keywords get spaces)."""
    kwargs: dict[str, Any] = {}
    if hasattr(old, "whitespace_before"):
        kwargs["whitespace_before"] = old.whitespace_before
    kwargs["whitespace_after"] = old.whitespace_after
    if issubclass(cls, _KEYWORD_OPS):
        kwargs = {k: _spaced(v) for k, v in kwargs.items()}
    if cls in (cst.IsNot, cst.NotIn):
        kwargs["whitespace_between"] = _SPACE
    if cls is cst.Not:
        kwargs.pop("whitespace_before", None)
        kwargs["whitespace_after"] = _spaced(kwargs["whitespace_after"])
    return cls(**kwargs)


def _has_parens(expr: cst.CSTNode) -> bool:
    return bool(getattr(expr, "lpar", None))


def paren(expr: cst.BaseExpression) -> cst.BaseExpression:
    """``expr`` in parentheses unless it is atomic or already parenthesized."""
    if isinstance(expr, ATOMIC) or _has_parens(expr):
        return expr
    return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def unparen(expr: cst.BaseExpression) -> cst.BaseExpression:
    """``expr`` without its own parentheses (tuples and generators keep theirs)."""
    if isinstance(expr, cst.Tuple | cst.GeneratorExp | cst.Yield):
        return expr
    if getattr(expr, "lpar", ()):
        return expr.with_changes(lpar=[], rpar=[])
    return expr


def replace(
    node: cst.CSTNode,
    new: cst.CSTNode | str,
    description: str,
    weight: float = 1.0,
    line: int | None = None,
) -> Mutation:
    """A one-edit mutation replacing ``node`` (ranked by ``line`` when given)."""
    return Mutation(edits=(Replace(node, new),), description=description, weight=weight, line=line)


def is_recursive_call(call: cst.Call, function: cst.FunctionDef | None) -> bool:
    """Whether ``call`` calls the function it is in."""
    return (
        function is not None
        and isinstance(call.func, cst.Name)
        and call.func.value == function.name.value
    )


_PRINTER = cst.Module(body=[])


def code_of(node: cst.CSTNode) -> str:
    """Compact source of a small node, for descriptions."""
    text = _PRINTER.code_for_node(node)
    text = " ".join(text.split())
    return text if len(text) <= 40 else text[:37] + "..."


_PRECEDENCE: dict[type[cst.BaseBinaryOp], int] = {
    cst.BitOr: 1,
    cst.BitXor: 2,
    cst.BitAnd: 3,
    cst.LeftShift: 4,
    cst.RightShift: 4,
    cst.Add: 5,
    cst.Subtract: 5,
    cst.Multiply: 6,
    cst.Divide: 6,
    cst.FloorDivide: 6,
    cst.Modulo: 6,
    cst.MatrixMultiply: 6,
    cst.Power: 8,
}
_UNARY = 7
_LOOSE = (cst.IfExp, cst.Lambda, cst.NamedExpr, cst.Yield)


def _strength(expr: cst.BaseExpression) -> int:
    """How tightly ``expr`` binds: 9 atomic, 8..1 arithmetic, 0 comparison, -1 boolean, ..."""
    if isinstance(expr, ATOMIC) or _has_parens(expr):
        return 9
    if isinstance(expr, cst.BinaryOperation):
        return _PRECEDENCE.get(type(expr.operator), 5)
    if isinstance(expr, cst.UnaryOperation):
        return -1 if isinstance(expr.operator, cst.Not) else _UNARY
    if isinstance(expr, cst.Comparison):
        return 0
    if isinstance(expr, cst.BooleanOperation):
        return -2 if isinstance(expr.operator, cst.Or) else -1
    return -5


def _needs_parens(parent: cst.CSTNode | None, old: cst.CSTNode, new: cst.BaseExpression) -> bool:
    strength = _strength(new)
    if strength == 9:
        return False
    if isinstance(new, cst.Tuple):
        return True
    if isinstance(parent, cst.BinaryOperation):
        need = _PRECEDENCE.get(type(parent.operator), 5)
        if isinstance(parent.operator, cst.Power):
            return strength <= need if parent.left is old else strength < _UNARY
        return strength < need or (strength == need and parent.right is old)
    if isinstance(parent, cst.UnaryOperation):
        return strength < (0 if isinstance(parent.operator, cst.Not) else _UNARY)
    if isinstance(parent, cst.Comparison | cst.ComparisonTarget):
        return strength <= 0
    if isinstance(parent, cst.BooleanOperation):
        return strength < _strength(parent) or (
            strength == _strength(parent) and parent.right is old
        )
    if isinstance(parent, cst.Attribute | cst.Subscript | cst.Call | cst.Await):
        return True
    return isinstance(new, _LOOSE)


def fit(
    parent: cst.CSTNode | None, old: cst.BaseExpression, new: cst.BaseExpression
) -> cst.BaseExpression:
    """``new`` ready to take ``old``'s place: with ``old``'s parentheses, or new ones if needed."""
    if getattr(old, "lpar", ()) and not getattr(new, "lpar", ()):
        return new.with_changes(lpar=old.lpar, rpar=old.rpar)
    if _needs_parens(parent, old, new):
        return paren(new)
    return new


def binop(left: cst.BaseExpression, op: str, right: cst.BaseExpression) -> cst.BinaryOperation:
    """``left op right`` with single spaces, operands parenthesized where needed."""
    classes: dict[str, type[cst.Add | cst.Subtract | cst.Multiply | cst.Power]] = {
        "+": cst.Add,
        "-": cst.Subtract,
        "*": cst.Multiply,
        "**": cst.Power,
    }
    cls = classes[op]
    space = cst.SimpleWhitespace(" ")
    operator = cls(whitespace_before=space, whitespace_after=space)
    probe = cst.BinaryOperation(left=left, operator=operator, right=right)
    return probe.with_changes(left=fit(probe, left, left), right=fit(probe, right, right))


def make_call(func: str, args: list[cst.BaseExpression]) -> cst.Call:
    """``func(a, b, ...)`` with single spaces after commas."""
    comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    return cst.Call(
        func=cst.parse_expression(func),
        args=[
            cst.Arg(value=a, comma=comma if i < len(args) - 1 else cst.MaybeSentinel.DEFAULT)
            for i, a in enumerate(args)
        ],
    )


def mentioned_names(node: cst.CSTNode, src: SourceFile | None = None) -> set[str]:
    """Every ``Name`` value inside ``node`` (variables, attributes' bases, keywords)."""
    return {n.value for n in walk(node, cst.Name, src=src)}


class _Collector(cst.CSTVisitor):
    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        return None

    def on_leave_attribute(self, original_node: cst.CSTNode, attribute: str) -> None:
        return None

    def __init__(
        self, root: cst.CSTNode, kinds: tuple[type[cst.CSTNode], ...], stop: tuple[type, ...]
    ) -> None:
        super().__init__()
        self.root, self.kinds, self.stop = root, kinds, stop
        self.found: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, self.kinds):
            self.found.append(node)
        return node is self.root or not isinstance(node, self.stop)


@overload
def walk(
    root: cst.CSTNode,
    kinds: type[N],
    *,
    stop: tuple[type[cst.CSTNode], ...] = (),
    src: SourceFile | None = None,
) -> list[N]: ...


@overload
def walk(
    root: cst.CSTNode,
    kinds: tuple[type[cst.CSTNode], ...],
    *,
    stop: tuple[type[cst.CSTNode], ...] = (),
    src: SourceFile | None = None,
) -> list[Any]: ...


def walk(
    root: cst.CSTNode,
    kinds: type[N] | tuple[type[cst.CSTNode], ...],
    *,
    stop: tuple[type[cst.CSTNode], ...] = (),
    src: SourceFile | None = None,
) -> list[Any]:
    """Nodes of type ``kinds`` under ``root`` (itself included), in source order; the subtrees
    of nested ``stop`` nodes (say, inner functions) are not entered. With ``src``, nodes of that
    file are walked through its child index (much faster than a libcst visitor)."""
    wanted = kinds if isinstance(kinds, tuple) else (kinds,)
    if src is not None:
        found = src.walk(root, wanted, stop)
        if found is not None:
            return found
    collector = _Collector(root, wanted, stop)
    root.visit(collector)
    return collector.found


def first_statement(src: SourceFile, fn: cst.FunctionDef) -> cst.CSTNode | None:
    """The first statement of ``fn``'s body after its docstring (``None`` for one-liners)."""
    if not isinstance(fn.body, cst.IndentedBlock):
        return None
    for stmt in fn.body.body:
        if stmt not in src.scan.docstrings:
            return stmt
    return None


def functions_at(src: SourceFile) -> list[cst.FunctionDef]:
    """Innermost functions that contain a site (or are one), in source order."""
    cached = src.cache.get("functions_at")
    if isinstance(cached, list):
        return cached
    seen: dict[cst.FunctionDef, None] = {}
    for node in src.sites:
        fn = node if isinstance(node, cst.FunctionDef) else src.function_of(node)
        if fn is not None:
            seen.setdefault(fn)
    src.cache["functions_at"] = list(seen)
    return list(seen)
