"""Turn a mutation into new file text, check it parses, and key it by its normalized AST."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import libcst as cst

from patchloop.fixers._source import SourceFile
from patchloop.fixers._types import Edit, Insert, Mutation, Replace

__all__ = ["Applied", "Applier", "Rejected", "change_size"]

_LINE_STATEMENTS = (cst.SimpleStatementLine, cst.BaseCompoundStatement)


@dataclass(frozen=True, slots=True)
class Applied:
    """A mutation that parses and changes the program."""

    text: str
    key: tuple[str, int, int, str]
    """Path, range and AST dump of the changed statement: equal keys mean equal programs."""
    size: tuple[int, int] = (0, 0)
    """Lines and characters the change removes plus adds (smaller: the simpler fix)."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why a mutation gave no candidate: ``invalid`` (does not parse or apply) or ``noop``."""

    reason: str


def _trimmed(old: str, new: str) -> tuple[int, str, str]:
    """The length of the common prefix of ``old`` and ``new``, and both without their common
    prefix and suffix."""
    head = 0
    limit = min(len(old), len(new))
    while head < limit and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < limit - head and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    return head, old[head : len(old) - tail], new[head : len(new) - tail]


def change_size(text: str, splices: Sequence[tuple[int, int, str]]) -> tuple[int, int]:
    """Lines and characters that ``splices`` (start, end, replacement) remove plus add.

    Lines count as a unified diff does: a changed line is one removed and one added, an
    inserted line one added; characters are the removed plus the inserted ones.
    """
    lines = chars = 0
    for start, end, repl in splices:
        head, old, new = _trimmed(text[start:end], repl)
        at = start + head
        chars += len(old) + len(new)
        if not old and not new:
            continue
        # an edit that neither starts nor ends inside a line only adds or removes whole lines
        whole = old.endswith("\n") or new.endswith("\n")
        at_line_start = at == 0 or text[at - 1] in "\r\n"
        if whole and at_line_start and (not old or not new):
            lines += (old or new).count("\n")
        else:
            lines += old.count("\n") + new.count("\n") + 2
    return lines, chars


def _parse_dump(source: str) -> str | None:
    if source[:1] in (" ", "\t"):
        # A nested statement keeps its indentation; a dummy block header makes it parse.
        source = "if 1:\n" + source
    try:
        return ast.dump(ast.parse(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


class Applier:
    """Applies mutations to one :class:`SourceFile`."""

    def __init__(self, src: SourceFile) -> None:
        self.src = src
        self._dumps: dict[tuple[int, int], str | None] = {}
        self._prints: dict[cst.CSTNode, bool] = {}

    # -- edits to text splices -------------------------------------------------------------
    def _line_offset(self, line: int) -> int:
        starts = self.src.line_starts
        return starts[line] if line < len(starts) else len(self.src.text)

    def _owns_lines(self, stmt: cst.CSTNode) -> bool:
        """Whether ``stmt`` starts its line (not after ``:`` or ``;``)."""
        if not isinstance(stmt, _LINE_STATEMENTS):
            return False
        start, _ = self.src.span(stmt)
        head = self.src.text[self._line_offset(self.src.line(stmt)) : start]
        return not head.strip()

    def _splice(self, edit: Edit) -> tuple[int, int, str] | None:
        src = self.src
        if isinstance(edit, Replace):
            start, end = src.span(edit.node)
            if isinstance(edit.new, str):
                return start, end, edit.new
            indent = src.indent_of(edit.node)
            if not self._prints_back(edit.node, indent, start, end):
                return None  # the tree does not print back to the text: do not guess
            return start, end, src.render(edit.new, indent)
        if isinstance(edit, Insert):
            if not self._owns_lines(edit.anchor):
                return None
            indent = src.line_indent(src.line(edit.anchor))
            lines = [indent + ln if ln.strip() else "" for ln in edit.code.split("\n")]
            block = src.newline.join(lines) + src.newline
            if edit.after:
                offset = self._line_offset(src.end_line(edit.anchor) + 1)
                if offset == len(src.text) and not src.text.endswith(("\n", "\r")):
                    block = src.newline + block
            else:
                offset = self._line_offset(src.line(edit.anchor))
            return offset, offset, block
        if not self._owns_lines(edit.stmt):
            return None
        start = self._line_offset(src.line(edit.stmt))
        end = self._line_offset(src.end_line(edit.stmt) + 1)
        parent = src.parent(edit.stmt)
        if isinstance(parent, cst.IndentedBlock) and len(parent.body) == 1:
            indent = src.line_indent(src.line(edit.stmt))
            return start, end, indent + "pass" + src.newline
        return start, end, ""

    def _prints_back(self, node: cst.CSTNode, indent: str, start: int, end: int) -> bool:
        known = self._prints.get(node)
        if known is None:
            known = self.src.render(node, indent) == self.src.text[start:end]
            self._prints[node] = known
        return known

    # -- mutation to candidate -------------------------------------------------------------
    def _region(self, mutation: Mutation) -> tuple[int, int]:
        """Character range of the statement that holds every edit, ``(0, len)`` for the file."""
        src = self.src
        nodes: list[cst.CSTNode] = []
        for edit in mutation.edits:
            if isinstance(edit, Replace):
                nodes.append(edit.node)
            else:
                stmt = edit.anchor if isinstance(edit, Insert) else edit.stmt
                block = src.parent(stmt)
                owner = src.parent(block) if block is not None else None
                nodes.append(owner if owner is not None else stmt)
        region = src.region_of(nodes)
        if region is None:
            return 0, len(src.text)
        first, last = src.statement_lines(region)
        return self._line_offset(first), self._line_offset(last + 1)

    def _original_dump(self, start: int, end: int) -> str | None:
        key = (start, end)
        if key not in self._dumps:
            self._dumps[key] = _parse_dump(self.src.text[start:end])
        return self._dumps[key]

    def apply(self, mutation: Mutation) -> Applied | Rejected:
        """The new file text and its dedup key, or why there is none."""
        splices: list[tuple[int, int, str]] = []
        for edit in mutation.edits:
            splice = self._splice(edit)
            if splice is None:
                return Rejected("invalid")
            splices.append(splice)
        splices.sort()
        for (_, end, _), (start, _, _) in pairwise(splices):
            if start < end:
                return Rejected("invalid")
        text = self.src.text
        new = text
        for start, end, repl in reversed(splices):
            new = new[:start] + repl + new[end:]
        if new == text:
            return Rejected("noop")
        start, end = self._region(mutation)
        if splices[0][0] < start or splices[-1][1] > end:
            start, end = 0, len(text)
        delta = len(new) - len(text)
        dump = _parse_dump(new[start : end + delta])
        if dump is None:
            return Rejected("invalid")
        if dump == self._original_dump(start, end):
            return Rejected("noop")
        size = change_size(text, splices)
        return Applied(text=new, key=(self.src.path, start, end, dump), size=size)
