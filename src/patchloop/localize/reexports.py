"""Follow a dotted name through a package's imports to the definition it reaches.

``xarray.where`` names ``where`` in ``xarray/__init__.py``, which only imports it from
``.core.computation``; the definition lives in ``xarray/core/computation.py``. Resolution
walks such re-exports (``from .x import name``, ``from .x import *``, ``import a.b as c``) a
few hops deep, reading each module's imports with ``ast`` from the index's view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from patchloop.localize.codeview import CodeView
from patchloop.localize.evidence import module_file
from patchloop.localize.symbols import ModuleSymbols, parse_module

__all__ = ["Reached", "Resolver"]

#: Import hops followed from the module a name starts in.
MAX_HOPS = 4


@dataclass(frozen=True)
class Reached:
    """Where a dotted name lands: a definition, or a module (``qualname == ""``)."""

    path: str
    qualname: str
    hops: int


class Resolver:
    """Resolves dotted names against one view; parsed modules are cached."""

    def __init__(self, view: CodeView) -> None:
        self.view = view
        self._paths = set(view.paths)
        self._modules: dict[str, ModuleSymbols | None] = {}

    def resolve(self, dotted: str) -> Reached | None:
        """The definition (or module) ``dotted`` reaches, ``None`` when it leaves the repo."""
        parts = [p for p in dotted.split(".") if p]
        for cut in range(len(parts), 0, -1):
            path = module_file(".".join(parts[:cut]), self._paths)
            if path is not None:
                return self._inside(path, parts[cut:], 0, set())
        return None

    def _inside(self, path: str, rest: Sequence[str], hops: int, seen: set[str]) -> Reached | None:
        if not rest:
            return Reached(path, "", hops)
        for n in range(len(rest), 0, -1):
            qualname = ".".join(rest[:n])
            if (path, qualname) in self.view.symbols:
                return Reached(path, qualname, hops)
        if hops >= MAX_HOPS or path in seen:
            return None
        seen = seen | {path}
        module = self._module(path)
        if module is None:
            return None
        head = rest[0]
        for imported in module.imports:
            if imported.alias == head and not imported.star:
                target = imported.module + (f".{imported.attr}" if imported.attr else "")
                found = self.resolve_from(target, rest[1:], hops + 1, seen)
                if found is not None:
                    return found
        for imported in module.imports:
            if imported.star:
                star = module_file(imported.module, self._paths)
                if star is not None:
                    found = self._inside(star, rest, hops + 1, seen)
                    if found is not None:
                        return found
        return None

    def resolve_from(
        self, target: str, rest: Sequence[str], hops: int, seen: set[str]
    ) -> Reached | None:
        """``target`` (a module, or ``module.name``) followed by the attributes ``rest``."""
        parts = [p for p in target.split(".") if p]
        for cut in range(len(parts), 0, -1):
            path = module_file(".".join(parts[:cut]), self._paths)
            if path is not None:
                return self._inside(path, [*parts[cut:], *rest], hops, seen)
        return None

    def _module(self, path: str) -> ModuleSymbols | None:
        if path not in self._modules:
            text = self.view.read_text(path)
            self._modules[path] = parse_module(path, text) if text is not None else None
        return self._modules[path]
