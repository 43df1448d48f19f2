"""Tier 0, model-free repair: repair templates at suspicious lines and linter autofixes.

Fixers implement :class:`patchloop.protocols.Fixer`; they only propose candidate patches (the
repair loop verifies them). Registered names: ``templates`` (the repair-template catalogue,
:mod:`patchloop.fixers.catalogue`), ``ruff`` (ruff's safe autofixes) and ``default`` (both,
interleaved).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from patchloop.errors import UsageError
from patchloop.fixers.chain import ChainFixer
from patchloop.protocols import Fixer
from patchloop.registry import Registry

__all__ = ["ChainFixer", "fixers", "get_fixer"]

fixers: Registry[Callable[..., Fixer]] = Registry(
    "fixer",
    {
        "templates": "patchloop.fixers.template_fixer:TemplateFixer",
        "ruff": "patchloop.fixers.ruff:RuffFixer",
        "default": "patchloop.fixers.chain:default_fixer",
    },
)
"""Short name -> fixer factory (a class or function taking keyword options)."""


def get_fixer(name: str = "default", **options: Any) -> Fixer:
    """The fixer registered as ``name`` (or at a dotted path), built with ``options``.

    Several names joined by ``+`` (``"templates+ruff"``) give a :class:`ChainFixer` of them.
    """
    if "+" in name:
        parts = [p.strip() for p in name.split("+") if p.strip()]
        return ChainFixer([get_fixer(p) for p in parts], name=name)
    factory = fixers.resolve(name)
    try:
        return factory(**options)
    except TypeError as exc:
        raise UsageError(f"fixer {name!r} does not take these options: {sorted(options)}") from exc
