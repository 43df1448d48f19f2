"""Edit formats: instructions, pure parsing, dry-run apply, and grammars for constrained decoding.

Four formats sit behind the :class:`~patchloop.protocols.EditFormat` seam, registered by short
name: ``search-replace`` (the default), ``json``, ``udiff`` and ``whole`` (whole files). All
apply through the same engine (:func:`apply_edits`), and :func:`apply_diff` re-applies a stored
diff.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from patchloop.edits.apply import apply_edits
from patchloop.edits.diff import make_patch, unified_diff
from patchloop.edits.grammar import check_gbnf
from patchloop.edits.json_envelope import ENVELOPE_SCHEMA, Envelope, JsonFormat, parse_envelope
from patchloop.edits.paths import normalize_path, resolve_path
from patchloop.edits.search_replace import SearchReplaceFormat, parse_search_replace
from patchloop.edits.udiff import UdiffFormat, apply_diff, parse_udiff
from patchloop.edits.whole_file import WholeFileFormat, parse_whole_files
from patchloop.registry import Registry

if TYPE_CHECKING:
    from collections.abc import Callable

    from patchloop.protocols import EditFormat

__all__ = [
    "DEFAULT_FORMAT",
    "ENVELOPE_SCHEMA",
    "FORMATS",
    "Envelope",
    "JsonFormat",
    "SearchReplaceFormat",
    "UdiffFormat",
    "WholeFileFormat",
    "apply_diff",
    "apply_edits",
    "check_gbnf",
    "get_format",
    "make_patch",
    "normalize_path",
    "parse_envelope",
    "parse_search_replace",
    "parse_udiff",
    "parse_whole_files",
    "resolve_path",
    "unified_diff",
]

DEFAULT_FORMAT = "search-replace"

FORMATS: Registry[Callable[[], EditFormat]] = Registry(
    "edit format",
    {
        "search-replace": "patchloop.edits.search_replace:SearchReplaceFormat",
        "json": "patchloop.edits.json_envelope:JsonFormat",
        "udiff": "patchloop.edits.udiff:UdiffFormat",
        "whole": "patchloop.edits.whole_file:WholeFileFormat",
    },
)
"""Edit formats by short name; a dotted path to a class works too."""


if TYPE_CHECKING:
    # Static proof that every built-in format implements the seam.
    _SEAM_CHECK: tuple[EditFormat, ...] = (
        SearchReplaceFormat(),
        JsonFormat(),
        UdiffFormat(),
        WholeFileFormat(),
    )


def get_format(name: str = DEFAULT_FORMAT) -> EditFormat:
    """A new instance of the edit format ``name`` (raises UnknownComponent listing valid names)."""
    return FORMATS.resolve(name)()
