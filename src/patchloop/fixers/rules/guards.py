"""Missing guards for ``None`` and empty inputs: return early with a sensible value."""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from patchloop.fixers._source import SourceFile
from patchloop.fixers._types import Insert, Mutation
from patchloop.fixers.rules._util import first_statement, functions_at, walk

NAME = "guards"
PRIOR = 0.4

MAX_PARAMS = 3
MAX_DEFAULTS = 4
_LITERAL_DEFAULTS = ("None", "[]", "0", "''", '""', "False", "True", "{}", "()", "-1", "0.0")


def _defaults(src: SourceFile, fn: cst.FunctionDef, param: str) -> list[str]:
    """Values the function already returns that look like an answer for empty input."""
    found = list(_returned_literals(src, fn))
    for extra in ("None", param):
        if extra not in found:
            found.append(extra)
    return found[:MAX_DEFAULTS]


def _returned_literals(src: SourceFile, fn: cst.FunctionDef) -> list[str]:
    key = ("returned", fn)
    cached = src.cache.get(key)
    if isinstance(cached, list):
        return cached
    found: list[str] = []
    for node in walk(fn, cst.Return, stop=(cst.FunctionDef, cst.Lambda), src=src):
        text = "None" if node.value is None else src.render(node.value, "")
        if text in _LITERAL_DEFAULTS and text not in found:
            found.append(text)
    src.cache[key] = found
    return found


def generate(src: SourceFile) -> Iterator[Mutation]:
    """Insert ``if not x: return d`` or ``if x is None: return d`` at the start of a function,
    for a parameter ``x`` and a value ``d`` the function already returns elsewhere (or ``None``,
    or ``x`` itself).

    Repairs crashes and wrong results on empty or missing input: HumanEvalFix *missing logic*
    (a missing base case) and the SStuB *missing null check* family.
    """
    for fn in functions_at(src):
        first = first_statement(src, fn)
        if first is None:
            continue
        line = src.covered_line(fn)
        params = [
            p.name.value
            for p in fn.params.params
            if p.name.value not in ("self", "cls") and p.default is None
        ]
        unit = src.indent_unit
        for p_rank, param in enumerate(params[:MAX_PARAMS]):
            for d_rank, default in enumerate(_defaults(src, fn, param)):
                weight = 0.9**p_rank * 0.85**d_rank
                for test, w in ((f"not {param}", 1.0), (f"{param} is None", 0.4)):
                    code = f"if {test}:\n{unit}return {default}"
                    yield Mutation(
                        edits=(Insert(first, code),),
                        description=f"guard 'if {test}: return {default}'",
                        weight=weight * w,
                        line=line,
                    )
