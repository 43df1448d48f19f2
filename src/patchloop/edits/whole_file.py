"""Whole files: the reply is the complete new content of each file it changes.

For small models and small files this is the most reliable format: nothing has to be copied
exactly to be found again, so a reply cannot miss its place; the cost is output tokens, which
grow with the file. Under a scope, the contract admits only the scope's files no longer than
:data:`MAX_LINES` lines, and bounds each rewrite in lines.

The parser is lenient about what surrounds the blocks (prose, a path in the fence's info
string, in backticks or bold), strict about the blocks: a fence that is not closed, or a block
without a path, is a ParseError.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from patchloop.domain import Edit, EditScope, OutputContract, Patch
from patchloop.edits.apply import apply_edits
from patchloop.edits.contracts import gbnf_literal
from patchloop.edits.prompts import load_prompt
from patchloop.edits.search_replace import find_path
from patchloop.errors import NotAFile, ParseError

__all__ = ["MAX_LINES", "WholeFileFormat", "parse_whole_files"]

#: Files longer than this are not offered for rewriting under a scope.
MAX_LINES = 400
_OPEN = re.compile(r"[ \t]*(`{3,}|~{3,})([^`\n]*)$")

_REMINDER = (
    "Every change must be the complete new content of a file: the file's path alone on its "
    "line, then a fenced code block with all its lines. Send the complete files again."
)


def _error(problem: str, kind: type[ParseError] = ParseError) -> ParseError:
    return kind(
        f"whole files: {problem}", feedback=f"Could not parse your reply: {problem}.\n\n{_REMINDER}"
    )


def _is_diff(body: list[str]) -> bool:
    """Whether a block's lines are a unified diff (headers first) rather than a file."""
    lines = [line for line in body if line.strip()][:3]
    if not lines:
        return False
    first = lines[0]
    if first.startswith("diff --git ") or first.startswith("@@ -"):
        return True
    return first.startswith("--- ") and len(lines) > 1 and lines[1].startswith("+++ ")


def parse_whole_files(text: str) -> list[Edit]:
    """One whole-file edit per fenced block with a path. Pure."""
    lines = text.replace("\r\n", "\n").split("\n")
    edits: list[Edit] = []
    at = 0
    region = 0
    while at < len(lines):
        opened = _OPEN.match(lines[at])
        if not opened:
            at += 1
            continue
        fence = opened.group(1)
        path = find_path(lines, region, at + 1)
        end = next((i for i in range(at + 1, len(lines)) if lines[i].strip() == fence), None)
        if end is None:
            raise _error(f"the code block at line {at + 1} is not closed by {fence}")
        if path is None:
            raise _error(f"the code block at line {at + 1} has no file path on the line before it")
        body = "".join(line + "\n" for line in lines[at + 1 : end])
        if _is_diff(lines[at + 1 : end]):
            raise _error(
                f"the code block for {path} holds a diff, not the file's content; write every "
                "line of the corrected file instead",
                NotAFile,
            )
        edits.append(Edit(path=path, search="", replace=body, whole=True))
        region = at = end + 1
    if not edits:
        raise _error("it contains no fenced code block with a file's content")
    return edits


def _scoped_grammar(scope: EditScope) -> str:
    # A file shown in excerpts cannot be rewritten whole: its other lines were never seen.
    files = [f for f in scope.files if not f.spans and sum(len(r) for r in f.runs()) <= MAX_LINES]
    if not files:
        files = list(scope.files[:1])
    rules = [
        f'root ::= file ( "\\n"? file ){{0,{max(0, min(scope.max_edits, len(files)) - 1)}}}',
        "file ::= " + " | ".join(f"file{i}" for i in range(len(files))),
        'line ::= ( [^`\\n] [^\\n]* | "`" ( [^`\\n] [^\\n]* )? '
        '| "``" ( [^`\\n] [^\\n]* )? )? "\\n"',
    ]
    for i, file in enumerate(files):
        lines = sum(len(r) for r in file.runs())
        bound = 2 * lines + 40
        # A Python file's fence names Python: a fence opened as "diff" leads a small model
        # to write a diff where the file's lines belong.
        info = '( "python" | "py" )?' if file.path.endswith(".py") else "[a-z]{0,12}"
        rules.append(
            f'file{i} ::= {gbnf_literal(file.path)} "\\n```" {info} "\\n" '
            f'line{{0,{bound}}} "```\\n"'
        )
    return "\n".join(rules) + "\n"


class WholeFileFormat:
    """Whole files: the reply rewrites each file it changes in full."""

    name: str = "whole"

    def instructions(self) -> str:
        """How to write whole-file replies."""
        return load_prompt("whole_file")

    def contract(self, scope: EditScope | None = None) -> OutputContract | None:
        """None without a scope; with one, a grammar admitting rewrites of its files."""
        if scope is None or not scope.files:
            return None
        return OutputContract(name=self.name, grammar=_scoped_grammar(scope), unit_end=None)

    def parse(self, text: str) -> list[Edit]:
        """Edits of the rewritten files in ``text``; see :func:`parse_whole_files`."""
        return parse_whole_files(text)

    def apply(self, root: Path, edits: Sequence[Edit], *, dry_run: bool = True) -> Patch:
        """Apply ``edits`` to the tree at ``root``; see :func:`~patchloop.edits.apply_edits`."""
        return apply_edits(root, edits, dry_run=dry_run, label=self.name)
