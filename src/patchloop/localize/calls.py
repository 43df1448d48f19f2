"""Calls signal: the repository code a failing test calls, for failures with no source frame.

A plain ``assert f(x) == y`` fails inside the test file, so its traceback names no repository
code. The test's own source still does: the names it calls or passes around, resolved through
the test module's imports to definitions in the repository. Helpers defined in the test module
(``check(f)``) and fixtures requested by name are followed one level down.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from patchloop.domain import Location
from patchloop.localize._paths import is_source_path
from patchloop.localize.symbols import ModuleSymbols, Scope, SymbolIndex

__all__ = ["call_locations", "split_nodeid"]

#: Calls score below every traceback frame (frames score in ``(0, 1]``, calls at most this).
CALL_SCORE = 0.5
#: How deep helper functions of the test module are followed.
_HELPER_DEPTH = 2
#: Re-exports followed through ``__init__`` modules before giving up on a name.
_REEXPORT_DEPTH = 3


def split_nodeid(nodeid: str) -> tuple[str, list[str]]:
    """``path::Class::test[param]`` -> (``path``, [``Class``, ``test``])."""
    path, _, rest = nodeid.partition("::")
    names = [part.partition("[")[0] for part in rest.split("::") if part]
    return path, names


@dataclass(frozen=True)
class _Ref:
    """A name or attribute chain used by test code; ``called`` when it is the callee."""

    chain: tuple[str, ...]
    called: bool


def _refs(nodes: Iterable[ast.AST]) -> list[_Ref]:
    """Names and dotted chains in source order, callees marked."""
    callees: set[int] = set()
    inner: set[int] = set()  # ``a`` and ``a.b`` inside ``a.b.c``: only the whole chain counts
    found: list[tuple[int, int, _Ref]] = []
    for root in nodes:
        for node in ast.walk(root):
            if isinstance(node, ast.Call):
                callees.add(id(node.func))
            elif isinstance(node, ast.Attribute):
                inner.add(id(node.value))
    for root in nodes:
        for node in ast.walk(root):
            if id(node) in inner:
                continue
            chain = _chain(node)
            if chain is not None and isinstance(getattr(node, "ctx", None), ast.Load):
                found.append(
                    (node.lineno, node.col_offset, _Ref(chain, id(node) in callees))  # type: ignore[attr-defined]
                )
    found.sort(key=lambda item: (item[0], item[1]))
    return [ref for _, _, ref in found]


def _chain(node: ast.AST) -> tuple[str, ...] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return tuple(reversed(parts))
    return None


class _Resolver:
    """Resolves names used in one test module to definitions in the repository."""

    def __init__(self, index: SymbolIndex, test_path: str, module: ModuleSymbols) -> None:
        self.index = index
        self.test_path = test_path
        self.module = module
        self.imports = {imp.alias: imp for imp in module.imports if not imp.star}
        self.stars = [imp.module for imp in module.imports if imp.star]

    def resolve(self, chain: tuple[str, ...]) -> list[tuple[str, Scope | None]]:
        """``(file, scope)`` targets of ``chain``; scope ``None`` means the module itself."""
        head = chain[0]
        imp = self.imports.get(head)
        if imp is None:
            for star in self.stars:
                found = self._in_module(star, head, chain[1:])
                if found:
                    return found
            return []
        if imp.attr is None:
            # ``import pkg.mod`` (alias ``pkg.mod``) or ``import pkg``: walk the chain as modules.
            return self._walk_modules(imp.module, chain[1:])
        submodule = self.index.module_path(f"{imp.module}.{imp.attr}", near=self.test_path)
        if submodule is not None:
            return self._walk_modules(f"{imp.module}.{imp.attr}", chain[1:])
        return self._in_module(imp.module, imp.attr, chain[1:])

    def methods(self, path: str, cls: Scope, names: set[str]) -> list[tuple[str, Scope | None]]:
        """Methods of ``cls`` whose names are in ``names``."""
        module = self.index.get(path)
        if module is None:
            return []
        return [(path, m) for m in module.members(cls.qualname) if m.name in names]

    def _walk_modules(self, dotted: str, rest: tuple[str, ...]) -> list[tuple[str, Scope | None]]:
        for i, name in enumerate(rest):
            deeper = f"{dotted}.{name}"
            if self.index.module_path(deeper, near=self.test_path) is None:
                return self._in_module(dotted, name, rest[i + 1 :])
            dotted = deeper
        path = self.index.module_path(dotted, near=self.test_path)
        return [(path, None)] if path is not None else []

    def _in_module(
        self, dotted: str, name: str, rest: tuple[str, ...], depth: int = 0
    ) -> list[tuple[str, Scope | None]]:
        path = self.index.module_path(dotted, near=self.test_path)
        if path is None or not is_source_path(path):
            return []
        module = self.index.get(path)
        if module is None:
            return []
        scope = module.top_level(name)
        if scope is None:
            if depth >= _REEXPORT_DEPTH:
                return []
            for imp in module.imports:
                if imp.alias == name and imp.attr is not None:
                    return self._in_module(imp.module, imp.attr, rest, depth + 1)
                if imp.star:
                    found = self._in_module(imp.module, name, rest, depth + 1)
                    if found:
                        return found
            return []
        targets: list[tuple[str, Scope | None]] = [(path, scope)]
        if scope.kind == "class":
            members = {m.name: m for m in module.members(scope.qualname)}
            if rest and rest[0] in members:
                return [(path, members[rest[0]])]
            if "__init__" in members:
                targets.append((path, members["__init__"]))
        return targets


def _test_nodes(module: ModuleSymbols, names: Sequence[str]) -> list[ast.AST]:
    """The test function (inside its classes) named by a node id, plus the helpers it uses."""
    tree = module.tree
    if tree is None or not names:
        return []
    body: list[ast.stmt] = tree.body
    node: ast.AST | None = None
    for name in names:
        node = next(
            (
                n
                for n in body
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and n.name == name
            ),
            None,
        )
        if node is None:
            return []
        body = node.body
    assert node is not None
    helpers = {
        n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    nodes: list[ast.AST] = [node]
    frontier: list[ast.AST] = [node]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        # Fixtures requested by argument name, when the test module defines them.
        frontier += [helpers[a.arg] for a in node.args.args if a.arg in helpers]
        nodes += [helpers[a.arg] for a in node.args.args if a.arg in helpers]
    for _ in range(_HELPER_DEPTH):
        nxt: list[ast.AST] = []
        for ref in _refs(frontier):
            helper = helpers.get(ref.chain[0])
            if ref.called and len(ref.chain) == 1 and helper is not None and helper not in nodes:
                nodes.append(helper)
                nxt.append(helper)
        frontier = nxt
    return nodes


def call_locations(
    nodeids: Sequence[str], root: Path, *, index: SymbolIndex | None = None
) -> list[Location]:
    """Repository definitions the tests ``nodeids`` use, first called first (signal ``calls``).

    Called names rank above names only referenced; a module used as a whole is a file-level
    location after every function. Scores are ``CALL_SCORE / (1 + position)``.
    """
    index = index or SymbolIndex(root)
    called: list[tuple[str, Scope | None]] = []
    referenced: list[tuple[str, Scope | None]] = []
    for nodeid in nodeids:
        test_path, names = split_nodeid(nodeid)
        module = index.get(test_path)
        if module is None:
            continue
        resolver = _Resolver(index, test_path, module)
        refs = _refs(_test_nodes(module, names))
        # ``obj = Cls(); obj.meth()``: methods called on any object count for every class used.
        methods = {ref.chain[-1] for ref in refs if ref.called and len(ref.chain) > 1}
        for ref in refs:
            bucket = called if ref.called else referenced
            targets = resolver.resolve(ref.chain)
            bucket += targets
            for path, scope in targets:
                if scope is not None and scope.kind == "class":
                    bucket += resolver.methods(path, scope, methods)
    functions = [t for t in called + referenced if t[1] is not None]
    modules = [t for t in called + referenced if t[1] is None]
    out: list[Location] = []
    seen: set[tuple[str, str]] = set()
    for path, scope in functions + modules:
        key = (path, scope.qualname if scope else "")
        if key in seen:
            continue
        seen.add(key)
        score = round(CALL_SCORE / (1 + len(out)), 6)
        if scope is None:
            mod = index.get(path)
            start, end, symbol = 1, max(mod.lines if mod else 1, 1), ""
        else:
            start, end, symbol = scope.start, scope.end, scope.qualname
        out.append(
            Location(
                path=path,
                start_line=start,
                end_line=end,
                symbol=symbol,
                score=score,
                signals={"calls": score},
            )
        )
    return out
