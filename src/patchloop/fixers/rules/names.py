"""Variable misuse: a name or attribute where another one of the same scope was meant."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import libcst as cst

from patchloop.fixers._source import SourceFile
from patchloop.fixers._types import Mutation
from patchloop.fixers.rules._roles import roles, similarity
from patchloop.fixers.rules._util import replace

NAME = "names"
PRIOR = 0.5

MAX_NAMES = 5
"""Alternatives per variable, nearest binding first."""
MAX_ATTRIBUTES = 4
_CONSTANTS = {"True", "False", "None", "self", "cls"}


def _variables(src: SourceFile) -> Iterator[Mutation]:
    for node in src.sites_of(cst.Name):
        if node.value in _CONSTANTS:
            continue
        parent = src.parent(node)
        if isinstance(parent, cst.Call) and parent.func is node:
            continue  # function misuse is the builtins template's business
        store = not src.is_load(node)
        if store and not isinstance(parent, cst.AssignTarget | cst.Element | cst.AugAssign):
            continue  # parameters, loop targets, ``as`` names stay
        if node in src.scan.labels:
            continue
        visible = [n for n in src.visible_values(node) if n != node.value and n not in _CONSTANTS]
        used = roles(src, src.function_of(node))
        mine = used.get(node.value, set())
        scored = sorted(
            ((similarity(mine, used.get(n, set())), -i, n) for i, n in enumerate(visible)),
            reverse=True,
        )
        limit = 3 if store else MAX_NAMES
        for rank, (sim, _, other) in enumerate(scored[:limit]):
            weight = (0.4 if store else 1.0) * 0.9**rank * (0.6 + 0.4 * sim)
            yield replace(
                node, node.with_changes(value=other), f"'{node.value}' -> '{other}'", weight
            )


def _attributes(src: SourceFile) -> Iterator[Mutation]:
    scan = src.scan
    for node in src.sites_of(cst.Attribute):
        if not isinstance(node.value, cst.Name):
            continue
        attr = node.attr.value
        parent = src.parent(node)
        called = isinstance(parent, cst.Call) and parent.func is node
        base = node.value.value
        if called:
            same = [m for m, _ in scan.methods.get(base, Counter()).most_common() if m != attr]
            others: list[str] = []
        else:
            same = [a for a, _ in scan.attributes.get(base, Counter()).most_common() if a != attr]
            others = [
                a for a, _ in scan.all_attributes.most_common() if a != attr and a not in same
            ]
            methods = {m for calls in scan.methods.values() for m in calls}
            same = [a for a in same if a not in methods]
            others = [a for a in others if a not in methods]
        ranked = [(a, 1.0) for a in same] + [(a, 0.5) for a in others]
        for rank, (other, weight) in enumerate(ranked[:MAX_ATTRIBUTES]):
            yield replace(
                node,
                node.with_changes(attr=cst.Name(other)),
                f"'.{attr}' -> '.{other}'",
                weight * 0.9**rank,
                line=src.line(node.attr),
            )


def generate(src: SourceFile) -> Iterator[Mutation]:
    """Replace one variable by another name bound in the same function (or module), or one
    attribute by another attribute used on the same object (then on any object).

    Repairs QuixBugs "incorrect variable"/"incorrect field dereference", HumanEvalFix *variable
    misuse* and the most frequent SStuB pattern, *change identifier used*. Alternatives are
    bounded: the nearest bindings first, a handful per place.
    """
    yield from _variables(src)
    yield from _attributes(src)
