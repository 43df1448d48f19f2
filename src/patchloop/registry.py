"""Short names to implementations, imported lazily; a dotted path works too.

Each seam keeps a :class:`Registry` in its subpackage ``__init__``. Entries are dotted paths so
that an optional extra (``llamacpp``, ``faiss``) is imported only when its name is asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Generic, TypeVar

from patchloop.errors import UnknownComponent, UsageError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps short names to ``module:attribute`` or ``module.attribute`` paths."""

    def __init__(self, seam: str, entries: Mapping[str, str]) -> None:
        self.seam = seam
        self._entries = dict(entries)

    def names(self) -> list[str]:
        """Registered short names, sorted."""
        return sorted(self._entries)

    def register(self, name: str, target: str) -> None:
        """Add or replace ``name``; ``target`` is a dotted path."""
        self._entries[name] = target

    def resolve(self, name: str) -> T:
        """The object registered as ``name``, or found at the dotted path ``name``."""
        target = self._entries.get(name)
        if target is None:
            if "." not in name and ":" not in name:
                valid = ", ".join(self.names())
                raise UnknownComponent(
                    f"unknown {self.seam} {name!r}", hint=f"valid names: {valid}"
                )
            target = name
        module_name, _, attr = target.replace(":", ".").rpartition(".")
        try:
            module = importlib.import_module(module_name)
            obj: T = getattr(module, attr)
        except ImportError as exc:
            raise UsageError(
                f"{self.seam} {name!r} needs a module that is not installed: {exc.name}",
                hint="install the matching extra, e.g. pip install 'patchloop[local]'",
            ) from exc
        except AttributeError as exc:
            raise UnknownComponent(f"{target!r} has no attribute {attr!r}") from exc
        return obj
