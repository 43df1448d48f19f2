"""Comparison operator misuse: ``<`` for ``<=``, ``==`` for ``!=``, ``is`` for ``is not``."""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from patchloop.fixers._source import SourceFile
from patchloop.fixers._types import Mutation
from patchloop.fixers.rules._util import make_op, replace

NAME = "comparison"
PRIOR = 1.0

_SYMBOL: dict[type[cst.BaseCompOp], str] = {
    cst.LessThan: "<",
    cst.LessThanEqual: "<=",
    cst.GreaterThan: ">",
    cst.GreaterThanEqual: ">=",
    cst.Equal: "==",
    cst.NotEqual: "!=",
    cst.Is: "is",
    cst.IsNot: "is not",
    cst.In: "in",
    cst.NotIn: "not in",
}
# Alternatives per operator with a weight: the boundary twin (< vs <=) and the logical negation
# (== vs !=, in vs not in) are the usual slips; a reversed direction is rarer.
_ALTERNATIVES: dict[type[cst.BaseCompOp], tuple[tuple[type[cst.BaseCompOp], float], ...]] = {
    cst.LessThan: (
        (cst.LessThanEqual, 1.0),
        (cst.GreaterThan, 0.5),
        (cst.GreaterThanEqual, 0.45),
        (cst.NotEqual, 0.3),
        (cst.Equal, 0.25),
    ),
    cst.LessThanEqual: (
        (cst.LessThan, 1.0),
        (cst.GreaterThanEqual, 0.5),
        (cst.GreaterThan, 0.45),
        (cst.Equal, 0.3),
        (cst.NotEqual, 0.25),
    ),
    cst.GreaterThan: (
        (cst.GreaterThanEqual, 1.0),
        (cst.LessThan, 0.5),
        (cst.LessThanEqual, 0.45),
        (cst.NotEqual, 0.3),
        (cst.Equal, 0.25),
    ),
    cst.GreaterThanEqual: (
        (cst.GreaterThan, 1.0),
        (cst.LessThanEqual, 0.5),
        (cst.LessThan, 0.45),
        (cst.Equal, 0.3),
        (cst.NotEqual, 0.25),
    ),
    cst.Equal: (
        (cst.NotEqual, 1.0),
        (cst.LessThanEqual, 0.35),
        (cst.GreaterThanEqual, 0.35),
        (cst.LessThan, 0.3),
        (cst.GreaterThan, 0.3),
        (cst.Is, 0.2),
    ),
    cst.NotEqual: (
        (cst.Equal, 1.0),
        (cst.GreaterThan, 0.35),
        (cst.LessThan, 0.35),
        (cst.GreaterThanEqual, 0.3),
        (cst.LessThanEqual, 0.3),
        (cst.IsNot, 0.2),
    ),
    cst.Is: ((cst.IsNot, 1.0), (cst.Equal, 0.4)),
    cst.IsNot: ((cst.Is, 1.0), (cst.NotEqual, 0.4)),
    cst.In: ((cst.NotIn, 1.0),),
    cst.NotIn: ((cst.In, 1.0),),
}


def generate(src: SourceFile) -> Iterator[Mutation]:
    """Replace one comparison operator by another of the same family.

    Repairs "incorrect comparison operator" (QuixBugs), operator misuse in conditions and the
    PySStuBs/ManySStuBs4J *change binary operator* pattern restricted to comparisons.
    """
    for node in src.sites_of(cst.Comparison):
        for i, target in enumerate(node.comparisons):
            old = target.operator
            for cls, weight in _ALTERNATIVES.get(type(old), ()):
                new_target = target.with_changes(operator=make_op(cls, old))
                targets = [*node.comparisons[:i], new_target, *node.comparisons[i + 1 :]]
                yield replace(
                    node,
                    node.with_changes(comparisons=targets),
                    f"'{_SYMBOL[type(old)]}' -> '{_SYMBOL[cls]}'",
                    weight,
                    line=src.line(target),
                )
