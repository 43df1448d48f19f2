"""A patch must not break the syntax of a Python file that compiled before it. Pure.

Running the tests on such a patch costs a sandbox run and reports only that collection failed;
compiling the changed files costs milliseconds and says where the syntax broke, which is what a
model needs to hear. Files that did not compile before (another Python version's syntax, or the
bug itself) are left to the tests.
"""

from __future__ import annotations

import ast
import warnings
from pathlib import PurePosixPath

from patchloop.domain import FileChange, Patch
from patchloop.errors import InvalidSyntax

__all__ = ["breaks_syntax", "check_syntax", "lost_definitions"]


def _problem(source: str, path: str) -> SyntaxError | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like
            compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return exc
    except ValueError:  # null bytes
        return SyntaxError("source code contains null bytes")
    return None


def breaks_syntax(before: str, after: str, path: str) -> bool:
    """Whether ``after`` no longer compiles where ``before`` did (a Python file)."""
    if not path.endswith(".py") or _problem(before, path) is not None:
        return False
    return _problem(after, path) is not None


def _module_parts(path: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The dotted name's parts a file at ``path`` is imported under, as far as the path says,
    and its package's (``pkg/mod.py``: ``pkg, mod`` in ``pkg``; ``pkg/__init__.py``: ``pkg``
    in ``pkg``)."""
    parts = PurePosixPath(path.strip().removeprefix("./")).with_suffix("").parts
    if parts and parts[-1] == "__init__":
        return parts[:-1], parts[:-1]
    return parts, parts[:-1]


def _imports_itself(node: ast.ImportFrom, path: str) -> bool:
    """Whether ``from X import ...`` names the module it is written in: an import of a name
    from itself binds nothing (it fails, or is circular). An absolute name counts when it
    ends the file's dotted path (the source root is not known); a relative one is resolved."""
    own, package = _module_parts(path)
    if not node.module or not own:
        return False
    named = tuple(node.module.split("."))
    if node.level:
        if node.level - 1 > len(package):
            return False
        return package[: len(package) - (node.level - 1)] + named == own
    return len(named) <= len(own) and own[-len(named) :] == named


def _top_level(source: str, path: str = "") -> tuple[set[str], set[str]] | None:
    """The functions and classes a module defines at its top level, and every name it binds
    there in any way (an assignment, an import other than from the module itself, when its
    ``path`` is given); ``None`` when it does not parse."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    defined: set[str] = set()
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.ImportFrom) and path and _imports_itself(node, path):
            continue
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
    return defined, bound


def lost_definitions(before: str, after: str, path: str = "") -> list[str]:
    """Top-level functions and classes of ``before`` whose names ``after`` no longer binds
    anywhere: a rewrite that replaced a function with something else, or stopped copying
    before its end. With the file's ``path``, a name ``after`` only imports from the file
    itself counts as lost. Sorted; empty when either text does not parse."""
    old, new = _top_level(before), _top_level(after, path)
    if old is None or new is None:
        return []
    return sorted(old[0] - new[1])


def _describe(change: FileChange, exc: SyntaxError) -> str:
    where = f" at line {exc.lineno}" if exc.lineno else ""
    text = f"{change.path}: {exc.msg}{where}"
    lines = (change.after or "").splitlines()
    if exc.lineno and 1 <= exc.lineno <= len(lines):
        text += f":\n    {lines[exc.lineno - 1].rstrip()}"
    return text


def check_syntax(patch: Patch) -> None:
    """Raise :class:`InvalidSyntax` when the patch breaks a Python file that compiled."""
    broken: list[str] = []
    for change in patch.changes:
        if change.after is None or not change.path.endswith(".py"):
            continue
        if change.before is not None and _problem(change.before, change.path) is not None:
            continue
        exc = _problem(change.after, change.path)
        if exc is not None:
            broken.append(_describe(change, exc))
    if broken:
        raise InvalidSyntax(
            f"the patch breaks the syntax of {len(broken)} file(s)",
            feedback="Your edits leave a syntax error, so the tests could not run:\n"
            + "\n".join(broken)
            + "\nCheck the indentation and brackets of the lines you wrote.",
        )
