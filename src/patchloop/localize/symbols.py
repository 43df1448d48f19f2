"""Python definitions of a repository, parsed with ``ast``: enclosing scopes and imports per file.

Parsing never raises: a missing, undecodable or unparsable file simply has no symbols, so one
broken module cannot stop localization of the rest.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

__all__ = ["Import", "ModuleSymbols", "Scope", "SymbolIndex"]

#: Files larger than this are not parsed (generated tables, vendored bundles).
MAX_PARSE_BYTES = 2_000_000


@dataclass(frozen=True)
class Scope:
    """A ``def`` or ``class`` with its qualified name (``Class.method``, ``outer.inner``)."""

    qualname: str
    kind: Literal["function", "class"]
    start: int
    """First line, decorators included."""
    end: int

    @property
    def name(self) -> str:
        """The unqualified name."""
        return self.qualname.rpartition(".")[2]


@dataclass(frozen=True)
class Import:
    """One name bound by an import statement at module level or in a function."""

    alias: str
    """The name bound in the importing module."""
    module: str
    """Absolute dotted module (relative imports already resolved when possible)."""
    attr: str | None = None
    """For ``from module import attr``; ``None`` for ``import module``."""
    star: bool = False


@dataclass
class ModuleSymbols:
    """Scopes and imports of one file."""

    path: str
    lines: int = 0
    scopes: list[Scope] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    tree: ast.Module | None = None

    def enclosing(self, line: int) -> Scope | None:
        """The innermost scope containing ``line``, or ``None`` at module level."""
        best: Scope | None = None
        for scope in self.scopes:
            if scope.start <= line <= scope.end and (best is None or scope.start >= best.start):
                best = scope
        return best

    def top_level(self, name: str) -> Scope | None:
        """The module-level ``def``/``class`` called ``name``."""
        for scope in self.scopes:
            if scope.qualname == name:
                return scope
        return None

    def members(self, class_qualname: str) -> list[Scope]:
        """Direct methods and nested classes of a class."""
        prefix = class_qualname + "."
        return [
            s
            for s in self.scopes
            if s.qualname.startswith(prefix) and "." not in s.qualname[len(prefix) :]
        ]


class _Collector(ast.NodeVisitor):
    def __init__(self, package: str) -> None:
        self.package = package
        self.stack: list[str] = []
        self.scopes: list[Scope] = []
        self.imports: list[Import] = []

    def _scope(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        kind: Literal["function", "class"] = (
            "class" if isinstance(node, ast.ClassDef) else "function"
        )
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        qualname = ".".join([*self.stack, node.name])
        self.scopes.append(Scope(qualname, kind, start, node.end_lineno or node.lineno))
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._scope(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._scope(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scope(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.imports.append(Import(alias.asname, alias.name))
            else:
                # ``import a.b`` binds ``a`` but makes ``a.b`` reachable as an attribute chain.
                self.imports.append(
                    Import(alias.name.partition(".")[0], alias.name.partition(".")[0])
                )
                if "." in alias.name:
                    self.imports.append(Import(alias.name, alias.name))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            parts = self.package.split(".") if self.package else []
            up = node.level - 1
            if up > len(parts):
                return
            base = parts[: len(parts) - up]
            module = ".".join([*base, module] if module else base)
        for alias in node.names:
            if alias.name == "*":
                self.imports.append(Import("*", module, None, star=True))
            else:
                self.imports.append(Import(alias.asname or alias.name, module, alias.name))


def _package_of(path: str) -> str:
    parent = PurePosixPath(path).parent
    parts = [p for p in parent.parts if p not in (".", "")]
    if parts and parts[0] == "src":
        parts = parts[1:]
    return ".".join(parts)


def parse_module(path: str, source: bytes | str) -> ModuleSymbols:
    """Scopes and imports of ``source``; an empty result when it does not parse."""
    newlines = source.count(b"\n") if isinstance(source, bytes) else source.count("\n")
    text_lines = newlines + 1
    module = ModuleSymbols(path=path, lines=text_lines)
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return module
    collector = _Collector(_package_of(path))
    collector.visit(tree)
    module.scopes = collector.scopes
    module.imports = collector.imports
    module.tree = tree
    return module


class SymbolIndex:
    """Lazily parsed, cached :class:`ModuleSymbols` of the Python files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[str, ModuleSymbols | None] = {}

    def get(self, path: str) -> ModuleSymbols | None:
        """Symbols of the repository-relative ``path``; ``None`` when it is not a readable file."""
        if path in self._cache:
            return self._cache[path]
        result: ModuleSymbols | None = None
        full = self.root / path
        try:
            if full.is_file() and full.stat().st_size <= MAX_PARSE_BYTES:
                result = parse_module(path, full.read_bytes())
        except OSError:
            result = None
        self._cache[path] = result
        return result

    def exists(self, path: str) -> bool:
        """Whether ``path`` is a file under the root."""
        try:
            return (self.root / path).is_file()
        except OSError:
            return False

    def module_path(self, dotted: str, near: str | None = None) -> str | None:
        """Repository file of the module ``dotted``, looked up at the root, under ``src/`` and
        next to the file ``near`` (pytest puts a test file's directory on ``sys.path``)."""
        if not dotted:
            return None
        rel = dotted.replace(".", "/")
        bases = [""]
        if near is not None:
            parent = PurePosixPath(near).parent.as_posix()
            if parent not in (".", ""):
                bases.append(parent + "/")
        bases.append("src/")
        for base in bases:
            for candidate in (f"{base}{rel}.py", f"{base}{rel}/__init__.py"):
                if self.exists(candidate):
                    return candidate
        return None
