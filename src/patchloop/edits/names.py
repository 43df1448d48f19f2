"""A patch must not leave a Python file reading a name it no longer binds. Pure.

A model that rewrites a file often drops an import or a helper the code still uses; the
tests then fail with a ``NameError`` (or fail to collect) and the next prompt spends its
words on that instead of on the bug. Parsing the changed files costs milliseconds and says
which names went missing and what bound them before, which is what the model needs to hear.

Only names the file bound before the patch count: a name the original already read without
binding (a builtin, a name from a star import, the bug itself) is left to the tests. A file
with a star import after the patch is skipped, as nothing here can tell what it binds.
"""

from __future__ import annotations

import ast
import builtins
import warnings

from patchloop.domain import Patch
from patchloop.edits.syntax import _imports_itself
from patchloop.errors import UndefinedNames

__all__ = ["check_names", "unbound_names"]

#: Names every module reads without binding them.
_MODULE_NAMES = frozenset(
    {"__name__", "__file__", "__doc__", "__spec__", "__loader__", "__package__", "__path__"}
    | {"__builtins__", "__annotations__", "__class__", "__dict__", "__module__", "__qualname__"}
)
_BUILTINS = frozenset(dir(builtins)) | _MODULE_NAMES


class _Names:
    """Every name a module binds anywhere, every name it reads, and where each top-level
    binding statement starts (for the feedback)."""

    def __init__(self, tree: ast.Module, path: str) -> None:
        self.bound: set[str] = set()
        self.read: set[str] = set()
        self.star = False
        self.binder: dict[str, int] = {}
        for stmt in tree.body:  # one pass: every node lies under a top-level statement
            for node in ast.walk(stmt):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                    self.read.add(node.id)
                elif isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
                    self.star = True
                for name in _binds(node, path):
                    self.bound.add(name)
                    self.binder.setdefault(name, stmt.lineno)


def _binds(node: ast.AST, path: str) -> list[str]:
    """The names one node binds in its scope."""
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return [node.id]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, ast.ImportFrom) and path and _imports_itself(node, path):
        return []
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"]
    if isinstance(node, ast.ExceptHandler) and node.name:
        return [node.name]
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return list(node.names)
    if isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
        return [node.name]
    if isinstance(node, ast.MatchMapping) and node.rest:
        return [node.rest]
    return []


def _parse(source: str, path: str) -> _Names | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _Names(ast.parse(source), path)
    except (SyntaxError, ValueError, RecursionError):
        return None


def unbound_names(before: str, after: str, path: str = "") -> dict[str, str]:
    """Names ``after`` reads but binds nowhere although ``before`` bound them, each with the
    first line of the top-level statement that bound it in ``before`` (``""`` when it was
    bound inside a definition). Sorted by name; empty when either text does not parse or
    ``after`` has a star import. With the file's ``path``, an import of the file from itself
    binds nothing."""
    old, new = _parse(before, path), _parse(after, path)
    if old is None or new is None or new.star:
        return {}
    lost = (new.read & old.bound) - new.bound - _BUILTINS
    lines = before.splitlines()
    out = {}
    for name in sorted(lost):
        line = old.binder.get(name)
        out[name] = lines[line - 1].strip() if line and line <= len(lines) else ""
    return out


def check_names(patch: Patch) -> None:
    """Raise :class:`UndefinedNames` when the patch leaves a Python file reading names it
    bound before and binds no more (a dropped import or helper)."""
    problems: list[str] = []
    for change in patch.changes:
        if change.before is None or change.after is None or not change.path.endswith(".py"):
            continue
        lost = unbound_names(change.before, change.after, change.path)
        if not lost:
            continue
        names = ", ".join(f"`{n}`" for n in lost)
        them, they = ("it", "it") if len(lost) == 1 else ("them", "they")
        text = f"{change.path} still uses {names} but no longer defines or imports {them}"
        binders = sorted({line for line in lost.values() if line})
        if binders:
            text += f"; before your edit {they} came from:\n" + "\n".join(
                f"    {line}" for line in binders
            )
        problems.append(text)
    if problems:
        raise UndefinedNames(
            f"the patch leaves {len(problems)} file(s) using names they no longer bind",
            feedback="Your edits removed names the code still uses, so it would fail with a "
            "NameError:\n"
            + "\n".join(problems)
            + "\nKeep those imports and definitions, and change only what the bug needs.",
        )
