"""Wrong exception types in ``raise`` and ``except``."""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from patchloop.fixers._source import SourceFile
from patchloop.fixers._types import Mutation
from patchloop.fixers.rules._util import replace

NAME = "exceptions"
PRIOR = 0.6

# Exceptions a caller or a test most often expects instead of one another.
_FAMILY = (
    "ValueError",
    "TypeError",
    "KeyError",
    "IndexError",
    "LookupError",
    "AttributeError",
    "RuntimeError",
    "NotImplementedError",
    "ZeroDivisionError",
    "StopIteration",
    "Exception",
)
MAX_ALTERNATIVES = 4


def _alternatives(name: str, broaden: bool) -> list[str]:
    others = [e for e in _FAMILY if e != name]
    if broaden:  # catching too narrowly is the usual mistake in ``except``
        others.remove("Exception") if "Exception" in others else None
        others.insert(0, "Exception")
    return others[:MAX_ALTERNATIVES]


def _exception_name(expr: cst.BaseExpression | None) -> cst.Name | None:
    if isinstance(expr, cst.Call):
        expr = expr.func
    return expr if isinstance(expr, cst.Name) and expr.value in _FAMILY else None


def generate(src: SourceFile) -> Iterator[Mutation]:
    """Raise or catch a different builtin exception type (``ValueError`` for ``TypeError``,
    ``except KeyError`` -> ``except LookupError``/``Exception``).

    Repairs tests that expect a specific exception (``pytest.raises``) and handlers that miss
    the exception actually raised.
    """
    for node in src.sites_of((cst.Raise, cst.ExceptHandler)):
        broaden = isinstance(node, cst.ExceptHandler)
        name = _exception_name(node.type if isinstance(node, cst.ExceptHandler) else node.exc)
        if name is None:
            continue
        for rank, other in enumerate(_alternatives(name.value, broaden)):
            yield replace(
                name, name.with_changes(value=other), f"{name.value} -> {other}", 0.9**rank
            )
