"""One pass over a libcst tree: parents, name roles, and what each function binds and uses."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

__all__ = ["Scan", "Scope", "scan"]

# Subtrees whose contents are never repair sites: types, imports, decorators, declarations.
_OPAQUE: frozenset[type[cst.CSTNode]] = frozenset(
    {
        cst.Annotation,
        cst.Import,
        cst.ImportFrom,
        cst.Decorator,
        cst.Global,
        cst.Nonlocal,
    }
)
_COMPREHENSIONS = frozenset({cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp})
_EMPTY_COLLECTIONS = {"set": "set", "list": "list", "dict": "dict", "deque": "list"}


@dataclass
class Scope:
    """Names a function (or the module, ``node is None``) binds and uses."""

    node: cst.FunctionDef | None
    params: list[str] = field(default_factory=list)
    bindings: dict[str, int] = field(default_factory=dict)
    """Name -> first line where it is bound (parameters: the ``def`` line)."""
    callables: set[str] = field(default_factory=set)
    """Names bound by ``def``, ``class`` or ``import``: functions and modules, not values."""
    inner: dict[str, list[cst.CSTNode]] = field(default_factory=dict)
    """Names bound only inside a comprehension or lambda -> those nodes (visible only there)."""
    loads: Counter[str] = field(default_factory=Counter)
    collections: dict[str, str] = field(default_factory=dict)
    """Name -> ``set``/``list``/``dict`` when it is bound to an empty collection."""
    strings: list[cst.SimpleString] = field(default_factory=list)
    augmented: set[str] = field(default_factory=set)
    """Names updated with an augmented assignment (counters, accumulators)."""

    def values(self) -> list[str]:
        """Bound value names (not functions, classes or modules), in order of first binding."""
        return [
            n
            for n, _ in sorted(self.bindings.items(), key=lambda kv: kv[1])
            if n not in self.callables
        ]


@dataclass
class Scan:
    """Everything one walk over a module found."""

    parents: dict[cst.CSTNode, cst.CSTNode] = field(default_factory=dict)
    children: dict[cst.CSTNode, list[cst.CSTNode]] = field(default_factory=dict)
    """Parent -> children in source order (for fast sub-walks)."""
    stores: set[cst.Name] = field(default_factory=set)
    """Names in binding position (assignment, loop and ``as`` targets, parameters)."""
    labels: set[cst.Name] = field(default_factory=set)
    """Names that are not variables: attribute names, keywords, ``def``/``class`` names."""
    opaque: set[cst.CSTNode] = field(default_factory=set)
    """Nodes inside annotations, imports, decorators, docstrings."""
    docstrings: set[cst.CSTNode] = field(default_factory=set)
    scopes: dict[cst.FunctionDef | None, Scope] = field(default_factory=dict)
    attributes: dict[str, Counter[str]] = field(default_factory=dict)
    """Base name -> attribute names read or written on it anywhere in the module."""
    all_attributes: Counter[str] = field(default_factory=Counter)
    methods: dict[str, Counter[str]] = field(default_factory=dict)
    """Base name -> method names called on it."""


def _target_names(node: cst.CSTNode) -> list[cst.Name]:
    """Names bound by an assignment target (through tuples, lists and stars)."""
    if isinstance(node, cst.Name):
        return [node]
    if isinstance(node, cst.Tuple | cst.List):
        return [n for el in node.elements for n in _target_names(el.value)]
    if isinstance(node, cst.StarredElement):
        return _target_names(node.value)
    return []


def _is_docstring(stmt: cst.CSTNode, body: object) -> bool:
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return False
    expr = stmt.body[0]
    if not isinstance(expr, cst.Expr):
        return False
    if not isinstance(expr.value, cst.SimpleString | cst.ConcatenatedString):
        return False
    return isinstance(body, list | tuple) and len(body) > 0 and body[0] is stmt


def _empty_collection(value: cst.BaseExpression) -> str | None:
    if isinstance(value, cst.List):
        return "list"
    if isinstance(value, cst.Dict) and not value.elements:
        return "dict"
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Name):
        return _EMPTY_COLLECTIONS.get(value.func.value)
    return None


class _Walker(cst.CSTVisitor):
    def __init__(self, lines: dict[cst.CSTNode, int]) -> None:
        super().__init__()
        self.out = Scan()
        self.out.scopes[None] = Scope(node=None)
        self._lines = lines
        self._stack: list[cst.CSTNode] = []
        self._scopes: list[Scope] = [self.out.scopes[None]]
        self._inner: list[cst.CSTNode] = []
        self._opaque: list[cst.CSTNode] = []
        self._handlers: dict[type[cst.CSTNode], Callable[[Any], None]] = {
            cst.Module: self._block,
            cst.IndentedBlock: self._block,
            cst.FunctionDef: self._function,
            cst.ClassDef: self._class,
            cst.Param: self._param,
            cst.Lambda: self._lambda,
            cst.CompFor: self._comp_for,
            cst.Attribute: self._attribute,
            cst.Arg: self._arg,
            cst.ImportAlias: self._import,
            cst.AssignTarget: self._assign_target,
            cst.AnnAssign: self._ann_assign,
            cst.AugAssign: self._aug_assign,
            cst.For: self._for,
            cst.AsName: self._as_name,
            cst.NamedExpr: self._named_expr,
            cst.Call: self._call,
            cst.SimpleString: self._string,
            cst.Name: self._name,
        }

    # -- traversal bookkeeping (attribute hooks are no-ops: they dominate libcst's cost) -----
    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        return None

    def on_leave_attribute(self, original_node: cst.CSTNode, attribute: str) -> None:
        return None

    def on_visit(self, node: cst.CSTNode) -> bool:
        out = self.out
        if self._stack:
            parent = self._stack[-1]
            out.parents[node] = parent
            out.children.setdefault(parent, []).append(node)
        self._stack.append(node)
        kind = type(node)
        if kind in _OPAQUE or node in out.docstrings:
            self._opaque.append(node)
        if self._opaque:
            out.opaque.add(node)
        handler = self._handlers.get(kind)
        if handler is not None:
            handler(node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self._stack.pop()
        if self._opaque and self._opaque[-1] is original_node:
            self._opaque.pop()
        kind = type(original_node)
        if kind is cst.FunctionDef:
            self._scopes.pop()
        if self._inner and self._inner[-1] is original_node:
            self._inner.pop()

    # -- facts -----------------------------------------------------------------------------
    def _line(self, node: cst.CSTNode) -> int:
        return self._lines.get(node, 0)

    def _bind(self, name: str, line: int, *, callable_: bool = False) -> None:
        scope = self._scopes[-1]
        if self._inner:
            scope.inner.setdefault(name, []).append(self._inner[-1])
            return
        scope.bindings.setdefault(name, line)
        if callable_:
            scope.callables.add(name)

    def _store(self, target: cst.CSTNode, *, augmented: bool = False) -> None:
        for name in _target_names(target):
            self.out.stores.add(name)
            self._bind(name.value, self._line(name))
            if augmented:
                self._scopes[-1].augmented.add(name.value)
                self._scopes[-1].loads[name.value] += 1

    def _block(self, node: cst.Module | cst.IndentedBlock) -> None:
        if node.body and _is_docstring(node.body[0], node.body):
            self.out.docstrings.add(node.body[0])

    def _function(self, node: cst.FunctionDef) -> None:
        self.out.labels.add(node.name)
        self._bind(node.name.value, self._line(node), callable_=True)
        scope = Scope(node=node)
        self.out.scopes[node] = scope
        self._scopes.append(scope)

    def _class(self, node: cst.ClassDef) -> None:
        self.out.labels.add(node.name)
        self._bind(node.name.value, self._line(node), callable_=True)

    def _param(self, node: cst.Param) -> None:
        self.out.labels.add(node.name)
        self.out.stores.add(node.name)
        if self._inner:
            self._bind(node.name.value, self._line(node))
            return
        scope = self._scopes[-1]
        scope.params.append(node.name.value)
        line = self._line(scope.node) if scope.node is not None else 0
        scope.bindings.setdefault(node.name.value, line)

    def _lambda(self, node: cst.Lambda) -> None:
        self._inner.append(node)

    def _comp_for(self, node: cst.CompFor) -> None:
        comp = next((n for n in reversed(self._stack) if type(n) in _COMPREHENSIONS), node)
        if not (self._inner and self._inner[-1] is comp):
            self._inner.append(comp)
        self._store(node.target)

    def _attribute(self, node: cst.Attribute) -> None:
        out = self.out
        out.labels.add(node.attr)
        out.all_attributes[node.attr.value] += 1
        if type(node.value) is cst.Name:
            out.attributes.setdefault(node.value.value, Counter())[node.attr.value] += 1

    def _arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self.out.labels.add(node.keyword)

    def _import(self, node: cst.ImportAlias) -> None:
        bound: cst.BaseExpression = node.asname.name if node.asname else node.name
        while isinstance(bound, cst.Attribute):
            bound = bound.value
        if isinstance(bound, cst.Name):
            self._bind(bound.value, self._line(node), callable_=True)

    def _assign_target(self, node: cst.AssignTarget) -> None:
        self._store(node.target)
        parent = self._stack[-2] if len(self._stack) > 1 else None
        if isinstance(parent, cst.Assign) and isinstance(node.target, cst.Name):
            kind = _empty_collection(parent.value)
            if kind is not None:
                self._scopes[-1].collections.setdefault(node.target.value, kind)

    def _ann_assign(self, node: cst.AnnAssign) -> None:
        self._store(node.target)

    def _aug_assign(self, node: cst.AugAssign) -> None:
        self._store(node.target, augmented=True)

    def _for(self, node: cst.For) -> None:
        self._store(node.target)

    def _as_name(self, node: cst.AsName) -> None:
        self._store(node.name)

    def _named_expr(self, node: cst.NamedExpr) -> None:
        self._store(node.target)

    def _call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            self.out.methods.setdefault(func.value.value, Counter())[func.attr.value] += 1

    def _string(self, node: cst.SimpleString) -> None:
        if not self._opaque:
            self._scopes[-1].strings.append(node)

    def _name(self, node: cst.Name) -> None:
        out = self.out
        if node not in out.stores and node not in out.labels and not self._opaque:
            self._scopes[-1].loads[node.value] += 1


def scan(
    module: cst.Module,
    lines: dict[cst.CSTNode, int],
    selected: Collection[cst.CSTNode] | None = None,
) -> Scan:
    """Walk ``module`` once; ``lines`` maps nodes to their first line.

    With ``selected`` top-level statements, only those (and simple module-level statements:
    imports, constants) are walked; other functions and classes only bind their names.
    """
    walker = _Walker(lines)
    if selected is None:
        module.visit(walker)
        return walker.out
    walker.on_visit(module)
    for stmt in module.body:
        if stmt in selected or isinstance(stmt, cst.SimpleStatementLine):
            stmt.visit(walker)
        elif isinstance(stmt, cst.FunctionDef | cst.ClassDef):
            walker.out.parents[stmt] = module
            walker._bind(stmt.name.value, lines.get(stmt, 0), callable_=True)
    return walker.out
