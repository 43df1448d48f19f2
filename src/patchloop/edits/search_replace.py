"""SEARCH/REPLACE blocks in plain text (the default edit format).

The parser is lenient about what surrounds blocks (prose, code fences, a path in a fence's
info string, in backticks, bold or a heading, CRLF) and strict about the blocks themselves:
a block without its divider or its closing marker, or without a path, is a ParseError whose
feedback quotes the line and restates the format.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from patchloop.domain import Edit, EditScope, OutputContract, Patch
from patchloop.edits.apply import apply_edits
from patchloop.edits.contracts import search_replace_scoped_grammar, search_replace_scoped_regex
from patchloop.edits.grammar import SEARCH_REPLACE_GBNF, SEARCH_REPLACE_REGEX
from patchloop.edits.prompts import load_prompt
from patchloop.errors import ParseError

__all__ = ["FORMAT_REMINDER", "SearchReplaceFormat", "find_path", "parse_search_replace"]

# Markers tolerate 5-9 characters, as models miscount; the grammar keeps content lines from
# ever looking like one (see patchloop.edits.grammar).
_SEARCH = re.compile(r"[ \t]*<{5,9}[ \t]*SEARCH\s*", re.IGNORECASE)
_DIVIDER = re.compile(r"[ \t]*={5,9}\s*")
_REPLACE = re.compile(r"[ \t]*>{5,9}[ \t]*REPLACE\s*", re.IGNORECASE)
_FENCE = re.compile(r"[ \t]*(?:`{3,}|~{3,})(.*)")
_LIST_MARK = re.compile(r"^(?:#{1,6}|[-*+]|\d+[.)]|>)\s+")
_LABEL = re.compile(r"^(?:file(?:name)?|path)\s*:\s*", re.IGNORECASE)
_BARE_PATH = re.compile(r"[^\s`*<>|\"']+")
_PLAIN_PATH = re.compile(r"[\w./@+-]+")  # a superset of the grammar's path characters
_TICKED = re.compile(r"`([^`\s]+)`")
_LOOKS_LIKE_FILE = re.compile(r"/|\.\w+$")

#: The line that closes one block: a reply repeating a closed block is stopped there.
UNIT_END = ">>>>>>> REPLACE\n"

FORMAT_REMINDER = """\
Every edit must be a SEARCH/REPLACE block in exactly this form:

path/to/file.py
<<<<<<< SEARCH
lines copied exactly from the original file
=======
the lines that replace them
>>>>>>> REPLACE

Send the complete set of edits again."""


def _error(problem: str, lines: Sequence[str] = (), at: int | None = None) -> ParseError:
    quoted = ""
    if at is not None and at < len(lines):
        quoted = f"\nLine {at + 1} of your reply: {lines[at][:200]!r}"
    return ParseError(
        f"search/replace: {problem}",
        feedback=f"Could not parse your reply: {problem}.{quoted}\n\n{FORMAT_REMINDER}",
    )


def _unwrap(text: str) -> tuple[str, bool]:
    """Strip wrappers (``**``, backticks, quotes); also say whether backticks were among them."""
    ticked = False
    changed = True
    while changed:
        changed = False
        text = text.strip()
        for wrap in ("**", "`", "*", "'", '"'):
            if len(text) > 2 * len(wrap) and text.startswith(wrap) and text.endswith(wrap):
                text = text[len(wrap) : -len(wrap)]
                ticked = ticked or wrap == "`"
                changed = True
    return text, ticked


def _clean_path(line: str) -> str | None:
    """The path a line names on its own (``src/a.py``, `` `src/a.py` ``, ``# src/a.py:``).

    A decorated word without a slash or an extension (``Also:``, ``**Fix**``) is prose; a bare
    one (``Makefile``) is a path.
    """
    if _PLAIN_PATH.fullmatch(line):
        return line
    text = _LIST_MARK.sub("", line.strip())
    text, ticked = _unwrap(text)
    text = _LABEL.sub("", text.rstrip(":"))
    text, ticked_inside = _unwrap(text)
    text = text.rstrip(":").strip()
    if not text:
        return None
    if not _LOOKS_LIKE_FILE.search(text):
        return None
    if ticked or ticked_inside:
        return text if "`" not in text else None
    return text if _BARE_PATH.fullmatch(text) else None


def _path_from_info(info: str) -> str | None:
    for raw in re.split(r"[\s:,]+", info.strip()):
        token, _ = _unwrap(raw)
        if token and _LOOKS_LIKE_FILE.search(token) and _BARE_PATH.fullmatch(token):
            return token
    return None


def find_path(lines: Sequence[str], start: int, end: int) -> str | None:
    """The path for a block whose marker is at ``end``, looking back to ``start``."""
    in_prose: str | None = None
    for at in range(end - 1, start - 1, -1):
        line = lines[at]
        if not line.strip():
            continue
        fence = _FENCE.fullmatch(line)
        if fence:
            found = _path_from_info(fence.group(1))
            if found:
                return found
            continue
        found = _clean_path(line)
        if found:
            return found
        if in_prose is None:
            ticked = [t for t in _TICKED.findall(line) if _LOOKS_LIKE_FILE.search(t)]
            in_prose = ticked[-1] if ticked else None
    return in_prose


def _join(lines: Sequence[str]) -> str:
    return "".join(line + "\n" for line in lines)


def parse_search_replace(text: str) -> list[Edit]:
    """Edits from SEARCH/REPLACE blocks in ``text``, in order. Pure.

    A block without a path of its own edits the file of the block before it. An empty
    SEARCH section creates a file. Raises :class:`ParseError` when there is no block or a
    block is malformed.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    edits: list[Edit] = []
    path: str | None = None
    region = 0
    at = 0
    while at < len(lines):
        if _REPLACE.fullmatch(lines[at]):
            raise _error(
                "a '>>>>>>> REPLACE' line without a '<<<<<<< SEARCH' line before it", lines, at
            )
        if not _SEARCH.fullmatch(lines[at]):
            at += 1
            continue
        number = len(edits) + 1
        path = find_path(lines, region, at) or path
        if path is None:
            raise _error(f"block {number} has no file path on the line before it", lines, at)
        divider = at + 1
        while divider < len(lines) and not _DIVIDER.fullmatch(lines[divider]):
            if _SEARCH.fullmatch(lines[divider]) or _REPLACE.fullmatch(lines[divider]):
                raise _error(f"block {number} ({path}) has no '=======' line", lines, divider)
            divider += 1
        if divider == len(lines):
            raise _error(f"block {number} ({path}) ends before its '=======' line", lines, at)
        end = divider + 1
        while end < len(lines) and not _REPLACE.fullmatch(lines[end]):
            if _SEARCH.fullmatch(lines[end]):
                raise _error(f"block {number} ({path}) has no '>>>>>>> REPLACE' line", lines, end)
            end += 1
        if end == len(lines):
            raise _error(
                f"block {number} ({path}) is not closed by a '>>>>>>> REPLACE' line", lines, at
            )
        edits.append(
            Edit(
                path=path,
                search=_join(lines[at + 1 : divider]),
                replace=_join(lines[divider + 1 : end]),
            )
        )
        region = at = end + 1
    if not edits:
        raise _error("it contains no SEARCH/REPLACE block")
    return edits


class SearchReplaceFormat:
    """SEARCH/REPLACE blocks: the default format, and constrainable by grammar or regex."""

    name: str = "search-replace"

    def instructions(self) -> str:
        """How to write SEARCH/REPLACE blocks, with an example."""
        return load_prompt("search_replace")

    def contract(self, scope: EditScope | None = None) -> OutputContract:
        """GBNF grammar and regex admitting exact blocks: any path and any number of blocks
        without ``scope``; with it, only its paths, its shown lines to find, and at most
        ``scope.max_edits`` blocks (see :mod:`patchloop.edits.contracts`)."""
        if scope is None or not scope.files:
            return OutputContract(
                name=self.name,
                grammar=SEARCH_REPLACE_GBNF,
                regex=SEARCH_REPLACE_REGEX,
                unit_end=UNIT_END,
            )
        return OutputContract(
            name=self.name,
            grammar=search_replace_scoped_grammar(scope),
            regex=search_replace_scoped_regex(scope),
            unit_end=UNIT_END,
        )

    def parse(self, text: str) -> list[Edit]:
        """Edits from the blocks in ``text``; see :func:`parse_search_replace`."""
        return parse_search_replace(text)

    def apply(self, root: Path, edits: Sequence[Edit], *, dry_run: bool = True) -> Patch:
        """Apply ``edits`` to the tree at ``root``; see :func:`~patchloop.edits.apply_edits`."""
        return apply_edits(root, edits, dry_run=dry_run, label=self.name)
