"""Edits that cannot change what Python code does. Pure.

Small models often answer a failing test with a change that only decorates the code: type
annotations on a function that had none, an added ``from typing import ...``, comments, blank
lines, another quote style. Such a patch cannot turn a failing test green, so running the tests
on it wastes an attempt, and the feedback ("they still fail") does not say why. Here two versions
of a Python file are compared as syntax trees with those decorations taken out:

- annotations of function parameters and return values that the original did not have (an
  annotation the original had must stay as it was: frameworks read them at run time);
- in function bodies, ``x: T = v`` counts as ``x = v``;
- imports from ``typing``, ``typing_extensions`` and ``__future__``;
- comments and layout (the syntax tree has neither).

Docstrings and other string statements count, since doctests read them, unless the caller
says no test that could decide the outcome reads them (``docstrings=False``: every failing
test is a test function in a test module). Anything else that differs, even a renamed
variable, is a change in behaviour.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterator

from patchloop.domain import Patch
from patchloop.errors import CosmeticEdit

__all__ = ["check_behaviour", "same_behaviour", "syntax_tree"]

#: Modules whose imports never change what code does at run time (in a file that compiles).
_TYPING = frozenset({"typing", "typing_extensions", "__future__"})

_Function = ast.FunctionDef | ast.AsyncFunctionDef


def _parse(source: str) -> ast.Module | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def syntax_tree(source: str) -> str | None:
    """Python ``source``'s syntax tree as text (comments and layout left out), ``None`` when
    it does not parse."""
    tree = _parse(source)
    return None if tree is None else ast.dump(tree, include_attributes=False)


def _arguments(node: _Function) -> Iterator[ast.arg]:
    args = node.args
    yield from args.posonlyargs
    yield from args.args
    if args.vararg is not None:
        yield args.vararg
    yield from args.kwonlyargs
    if args.kwarg is not None:
        yield args.kwarg


def _annotations(node: _Function) -> list[str | None]:
    """Each parameter's annotation and then the return annotation, dumped (None: absent)."""
    found = [ast.dump(a.annotation) if a.annotation else None for a in _arguments(node)]
    return [*found, ast.dump(node.returns) if node.returns else None]


class _Plain(ast.NodeTransformer):
    """Takes the decorations out of a tree (in place)."""

    def __init__(self, *, docstrings: bool = True) -> None:
        self.depth = 0  # functions we are inside
        self.docstrings = docstrings

    def visit_Expr(self, node: ast.Expr) -> ast.AST | None:
        """A string statement (a docstring) goes when docstrings do not count."""
        value = node.value
        if not self.docstrings and isinstance(value, ast.Constant) and isinstance(value.value, str):
            return None
        return self.generic_visit(node)

    def _function(self, node: _Function) -> ast.AST:
        for arg in _arguments(node):
            arg.annotation = None
        node.returns = None
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        return self._function(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if self.depth and node.value is not None:
            return ast.Assign(targets=[node.target], value=node.value, lineno=0)
        return node

    def visit_Import(self, node: ast.Import) -> ast.AST | None:
        kept = [a for a in node.names if a.name.partition(".")[0] not in _TYPING]
        if not kept:
            return None
        node.names = kept
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST | None:
        if node.level == 0 and (node.module or "").partition(".")[0] in _TYPING:
            return None
        return node


def _functions(tree: ast.AST) -> list[_Function]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def same_behaviour(before: str, after: str, *, docstrings: bool = True) -> bool:
    """Whether Python source ``after`` does what ``before`` does, by the rules above; False
    when either does not parse. ``docstrings``: whether docstrings count."""
    old, new = _parse(before), _parse(after)
    if old is None or new is None:
        return False
    kept = list(zip(_functions(old), _functions(new), strict=False))
    if len(kept) != len(_functions(old)) or len(kept) != len(_functions(new)):
        return False
    for was, now in kept:
        had, has = _annotations(was), _annotations(now)
        if len(had) != len(has):
            return False
        if any(a is not None and a != b for a, b in zip(had, has, strict=True)):
            return False
    plain = [
        ast.dump(_Plain(docstrings=docstrings).visit(tree), include_attributes=False)
        for tree in (old, new)
    ]
    return plain[0] == plain[1]


def check_behaviour(patch: Patch, *, docstrings: bool = True) -> None:
    """Raise :class:`CosmeticEdit` when every file the patch changes is a Python file that
    still does what it did (``docstrings``: whether a changed docstring counts)."""
    if not patch.changes:
        return
    for change in patch.changes:
        if change.before is None or change.after is None or not change.path.endswith(".py"):
            return
        if not same_behaviour(change.before, change.after, docstrings=docstrings):
            return
    paths = ", ".join(c.path for c in patch.changes)
    raise CosmeticEdit(
        f"the patch changes only annotations, typing imports or layout of {paths}",
        feedback=f"Your edits to {paths} changed only type annotations, typing imports, "
        + ("comments or layout." if docstrings else "comments, docstrings or layout.")
        + " That does not change what the code does, so the failing tests "
        "would fail exactly as before; the tests were not run. Find the line whose logic "
        "causes the failure and change that line.",
    )
