"""Whole-file rewrites keep the documentation they left out at either end of a Python file.

A small model asked for a file's complete content copies the code and stops: a module
docstring or licence comment before the code, or a long docstring after it (programs that
keep their description at the end), goes missing. Deleting documentation is never what a
repair asks for, and a rewrite that lost it shows up as a change when the code is the same
(so a reply that fixed nothing looks like an attempt, and is judged and repeated as one).

:func:`restore_dropped_docs` puts such a block back: only the part before the first statement
or after the last one that is not a bare string, only when the rewrite has no block of its own
there, and only when both texts parse. Pure.
"""

from __future__ import annotations

import ast

__all__ = ["restore_dropped_docs"]


def _is_doc(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _code_span(tree: ast.Module) -> tuple[int, int] | None:
    """First and last line (1-based) of the statements that are code (not bare strings)."""
    code = [node for node in tree.body if not _is_doc(node)]
    if not code:
        return None
    first = code[0]
    start = min([first.lineno, *(d.lineno for d in getattr(first, "decorator_list", []))])
    end = code[-1].end_lineno or code[-1].lineno
    return start, end


def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


def _has_text(lines: list[str]) -> bool:
    return any(line.strip() for line in lines)


def restore_dropped_docs(original: str, rewrite: str) -> str:
    """``rewrite`` with the original's leading and trailing documentation put back where the
    rewrite has none (see the module docstring); ``rewrite`` itself otherwise."""
    before, after = _parse(original), _parse(rewrite)
    if before is None or after is None:
        return rewrite
    old_span, new_span = _code_span(before), _code_span(after)
    if old_span is None or new_span is None:
        return rewrite
    old = original.splitlines(keepends=True)
    new = rewrite.splitlines(keepends=True)
    head, tail = old[: old_span[0] - 1], old[old_span[1] :]
    new_head, new_tail = new[: new_span[0] - 1], new[new_span[1] :]
    out = new
    if _has_text(tail) and not _has_text(new_tail):
        body = out[: new_span[1]]
        if body and not body[-1].endswith("\n"):
            body[-1] += "\n"
        out = body + tail
    if _has_text(head) and not _has_text(new_head):
        out = head + out[new_span[0] - 1 :]
    return "".join(out)
