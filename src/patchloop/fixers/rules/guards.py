"""Missing guards for ``None`` and empty inputs: return early with a sensible value."""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from patchloop.fixers._source import SourceFile
from patchloop.fixers._types import Insert, Mutation
from patchloop.fixers.rules._empty import empty_value
from patchloop.fixers.rules._util import first_statement, functions_at, walk

NAME = "guards"
PRIOR = 0.4

MAX_PARAMS = 3
MAX_DEFAULTS = 4
_LITERAL_DEFAULTS = ("None", "[]", "0", "''", '""', "False", "True", "{}", "()", "-1", "0.0")


def _defaults(src: SourceFile, fn: cst.FunctionDef, param: str) -> list[str]:
    """Answers for empty input: literals the function already returns, ``None``, the empty
    value of the type it returns (``0`` for ``len(x)``, ``''`` for ``' '.join(x)``, ...), and
    the input itself."""
    literals, typed = _returned_values(src, fn)
    found = list(literals)
    for extra in ("None", *typed, param):
        if extra not in found:
            found.append(extra)
    return found[:MAX_DEFAULTS]


def _returned_values(src: SourceFile, fn: cst.FunctionDef) -> tuple[list[str], list[str]]:
    """Literals ``fn`` returns, and the empty values of the types of the other returns."""
    key = ("returned", fn)
    cached = src.cache.get(key)
    if isinstance(cached, tuple):
        return cached
    literals: list[str] = []
    typed: list[str] = []
    for node in walk(fn, cst.Return, stop=(cst.FunctionDef, cst.Lambda), src=src):
        text = "None" if node.value is None else src.render(node.value, "")
        if text in _LITERAL_DEFAULTS:
            literals.append(text)
        elif node.value is not None and (empty := empty_value(node.value)) is not None:
            typed.append(empty)
    literals, typed = list(dict.fromkeys(literals)), list(dict.fromkeys(typed))
    src.cache[key] = (literals, typed)
    return literals, typed


def generate(src: SourceFile) -> Iterator[Mutation]:
    """Insert ``if not x: return d`` or ``if x is None: return d`` at the start of a function,
    for a parameter ``x`` and a value ``d`` the function already returns elsewhere, ``None``,
    the empty value of the type the function returns (``0`` when it returns ``len(...)``), or
    ``x`` itself.

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
