"""Value types shared by the repair templates: edits, mutations and the template record."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

if TYPE_CHECKING:
    from patchloop.fixers._source import SourceFile

__all__ = ["Delete", "Edit", "Insert", "Mutation", "Replace", "Template"]


@dataclass(frozen=True, slots=True)
class Replace:
    """Replace the source of ``node`` (parentheses included) with ``new``.

    ``new`` is a node rendered with the indentation of the enclosing statement, or ready code.
    """

    node: cst.CSTNode
    new: cst.CSTNode | str


@dataclass(frozen=True, slots=True)
class Insert:
    """Insert ``code`` as new lines before (or ``after``) the statement ``anchor``.

    ``code`` is written without the anchor's indentation; nested lines use the file's indent
    unit relative to the first line.
    """

    anchor: cst.CSTNode
    code: str
    after: bool = False


@dataclass(frozen=True, slots=True)
class Delete:
    """Remove the lines of statement ``stmt``; a block left empty gets ``pass``."""

    stmt: cst.CSTNode


Edit = Replace | Insert | Delete


@dataclass(frozen=True, slots=True)
class Mutation:
    """One proposed change: its edits, a short description and a weight within its template.

    ``weight`` (0..1] ranks the alternatives one template proposes at the same place, e.g. a
    boundary change ``<`` -> ``<=`` above a direction change ``<`` -> ``>``. ``line`` overrides the
    line the mutation is ranked by (default: the first line of the first edit's node).
    """

    edits: tuple[Edit, ...]
    description: str
    weight: float = 1.0
    line: int | None = None


Generator = Callable[["SourceFile"], Iterable[Mutation]]


@dataclass(frozen=True, slots=True)
class Template:
    """A repair template: a general rule about one kind of bug.

    ``prior`` is the chance, relative to the other templates, that one candidate of this
    template is the fix (see :mod:`patchloop.fixers.catalogue` for where the numbers come from).
    """

    name: str
    prior: float
    generate: Generator
    doc: str
