"""Wrong slices: a missing, extra or mismatched slice of a sequence."""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from patchloop.fixers._source import SourceFile
from patchloop.fixers._types import Mutation
from patchloop.fixers.rules._util import code_of, replace, walk

NAME = "slices"
PRIOR = 0.6

MAX_SLICES = 3


def _slices_in(src: SourceFile, node: cst.CSTNode) -> list[cst.Subscript]:
    key = ("slices", node)
    cached = src.cache.get(key)
    if isinstance(cached, list):
        return cached
    found = [
        sub
        for sub in walk(node, cst.Subscript, src=src)
        if len(sub.slice) == 1 and isinstance(sub.slice[0].slice, cst.Slice)
    ]
    src.cache[key] = found
    return found


def _complement(s: cst.Slice) -> str | None:
    """``[:k]`` -> ``[k:]`` and back."""
    if s.step is not None:
        return None
    if s.lower is None and s.upper is not None:
        return f"[{code_of(s.upper)}:]"
    if s.upper is None and s.lower is not None:
        return f"[:{code_of(s.lower)}]"
    return None


def _transplants(src: SourceFile) -> Iterator[Mutation]:
    """A name used whole where a slice like one applied nearby was meant."""
    for node in src.sites_of(cst.Name):
        if not src.is_load(node) or node.value in ("True", "False", "None", "self"):
            continue
        parent = src.parent(node)
        if isinstance(parent, cst.Subscript | cst.Attribute | cst.Call):
            continue
        stmt = src.statement_of(node)
        fn = src.function_of(node)
        seen: set[str] = set()
        options: list[tuple[str, float]] = []
        if stmt is not None:
            for sub in _slices_in(src, stmt):
                text = src.render(sub.slice[0].slice, "")
                if sub.value is not node and text not in seen:
                    seen.add(text)
                    options.append((f"[{text}]", 0.7))
        if fn is not None:
            for sub in _slices_in(src, fn.body):
                if isinstance(sub.value, cst.Name) and sub.value.value == node.value:
                    slc = sub.slice[0].slice
                    complement = _complement(slc) if isinstance(slc, cst.Slice) else None
                    if complement and complement not in seen:
                        seen.add(complement)
                        options.append((complement, 0.5))
        for text, weight in options[:MAX_SLICES]:
            yield replace(
                node, f"{node.value}{text}", f"'{node.value}' -> '{node.value}{text}'", weight
            )


def _removals(src: SourceFile) -> Iterator[Mutation]:
    for node in src.sites_of(cst.Subscript):
        if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Slice):
            continue
        slc = node.slice[0].slice
        yield replace(node, node.value, f"drop the slice of '{code_of(node)}'", 0.4)
        for field in ("lower", "upper", "step"):
            if getattr(slc, field) is not None:
                new_slice = slc.with_changes(**{field: None})
                if field == "step":
                    new_slice = new_slice.with_changes(second_colon=cst.MaybeSentinel.DEFAULT)
                element = node.slice[0].with_changes(slice=new_slice)
                yield replace(
                    node,
                    node.with_changes(slice=[element]),
                    f"drop the {field} bound of '{code_of(node)}'",
                    0.4,
                )


def generate(src: SourceFile) -> Iterator[Mutation]:
    """Slice a sequence like a sibling in the same statement is sliced (``f(a[1:], b)`` ->
    ``f(a[1:], b[1:])``), take the complement of a slice used elsewhere (``xs[:k]`` ... ``xs``
    -> ``xs[k:]``), or drop a slice or one of its bounds.

    Repairs QuixBugs "incorrect array slice" and slice bugs of HumanEvalFix *value misuse*.
    """
    yield from _transplants(src)
    yield from _removals(src)
