"""Mutable default arguments shared between calls."""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from patchloop.fixers._source import SourceFile
from patchloop.fixers._types import Insert, Mutation, Replace
from patchloop.fixers.rules._util import first_statement, functions_at

NAME = "defaults"
PRIOR = 0.9

_MUTABLE_CALLS = {"list", "dict", "set", "deque", "defaultdict", "OrderedDict", "Counter"}


def _is_mutable(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.List | cst.Dict | cst.Set | cst.ListComp | cst.DictComp | cst.SetComp):
        return True
    return (
        isinstance(expr, cst.Call)
        and isinstance(expr.func, cst.Name)
        and expr.func.value in _MUTABLE_CALLS
    )


def generate(src: SourceFile) -> Iterator[Mutation]:
    """``def f(x=[])`` -> ``def f(x=None)`` plus ``if x is None: x = []`` in the body.

    Repairs state leaking between calls through a default list, dict or set (a classic Python
    pitfall, flagged by linters as B006).
    """
    for fn in functions_at(src):
        first = first_statement(src, fn)
        if first is None:
            continue
        for param in [*fn.params.params, *fn.params.kwonly_params]:
            if param.default is None or not _is_mutable(param.default):
                continue
            name = param.name.value
            init = src.render(param.default, "")
            code = f"if {name} is None:\n{src.indent_unit}{name} = {init}"
            yield Mutation(
                edits=(Replace(param.default, cst.Name("None")), Insert(first, code)),
                description=f"mutable default '{name}={init}' -> None",
                line=src.covered_line(fn),
            )
