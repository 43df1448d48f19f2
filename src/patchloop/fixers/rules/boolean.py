"""Boolean operator and literal misuse: ``and`` for ``or``, ``True`` for ``False``."""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from patchloop.fixers._source import SourceFile
from patchloop.fixers._types import Mutation
from patchloop.fixers.rules._util import make_op, replace

NAME = "boolean"
PRIOR = 0.9

_SWAP_LITERAL = {"True": "False", "False": "True"}


def _flip_chain(node: cst.BooleanOperation, same: type[cst.BaseBooleanOp]) -> cst.BooleanOperation:
    cls = cst.Or if same is cst.And else cst.And
    left = node.left
    if isinstance(left, cst.BooleanOperation) and isinstance(left.operator, same) and not left.lpar:
        left = _flip_chain(left, same)
    return node.with_changes(left=left, operator=make_op(cls, node.operator))


def _chain_length(node: cst.BaseExpression, same: type[cst.BaseBooleanOp]) -> int:
    if isinstance(node, cst.BooleanOperation) and isinstance(node.operator, same) and not node.lpar:
        return _chain_length(node.left, same) + 1
    return 1


def generate(src: SourceFile) -> Iterator[Mutation]:
    """Swap ``and``/``or`` in one boolean operation (or in a whole chain ``a and b and c``), or
    one ``True``/``False`` literal.

    Repairs operator misuse in conditions (HumanEvalFix *operator misuse*) and the
    *change/swap boolean literal* SStuB patterns (flags, keyword arguments, returns).
    """
    for node in src.sites_of((cst.BooleanOperation, cst.Name)):
        if isinstance(node, cst.BooleanOperation):
            old = node.operator
            cls = cst.Or if isinstance(old, cst.And) else cst.And
            before, after = ("and", "or") if cls is cst.Or else ("or", "and")
            yield replace(
                node,
                node.with_changes(operator=make_op(cls, old)),
                f"'{before}' -> '{after}'",
                line=src.line(node.right),
            )
            same = type(old)
            parent = src.parent(node)
            top = not (
                isinstance(parent, cst.BooleanOperation) and isinstance(parent.operator, same)
            )
            if top and _chain_length(node, same) >= 3:
                yield replace(node, _flip_chain(node, same), f"every '{before}' -> '{after}'", 0.8)
        elif node.value in _SWAP_LITERAL and src.is_load(node):
            new = _SWAP_LITERAL[node.value]
            yield replace(node, node.with_changes(value=new), f"{node.value} -> {new}", 0.8)
