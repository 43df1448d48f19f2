"""Output contracts scoped to one run: only its editable paths, only lines it showed, few edits.

A generic grammar lets a small model write any path (``src/app.py`` for ``app.py``), edit test
files, copy lines from the format's example, and emit block after block until the token cap.
The grammars here close those doors for an :class:`~patchloop.domain.EditScope`:

* paths are an alternation of the editable files, nothing else;
* the text to find (SEARCH section, JSON ``search`` string, unified diff context and removed
  lines) is a contiguous run of lines the prompt showed of that file, copied exactly, so a reply
  can only quote what exists (it may still match more than one place; the apply engine says so);
* at most ``max_edits`` edits (blocks, JSON edits, hunks), and the reply may end after any
  complete edit;
* replacement text is bounded in lines, so a looping model stops.

Where a file is too large to list its lines (more than :data:`MAX_LISTED_LINES` shown), its
text to find falls back to free lines. Builders are pure functions of the scope.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from patchloop.domain import EditScope, ScopeFile

__all__ = [
    "MAX_LISTED_LINES",
    "gbnf_literal",
    "json_scoped_grammar",
    "json_scoped_schema",
    "search_replace_scoped_grammar",
    "search_replace_scoped_regex",
    "udiff_scoped_grammar",
]

#: Shown lines of one file up to which the text to find is restricted to them.
MAX_LISTED_LINES = 1500
#: Replacement lines allowed per edit: twice the shown lines, within these bounds.
MIN_REPLACE_LINES = 40
MAX_REPLACE_LINES = 400

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FREE_LINE = (
    '[ \\t]* ( [^ \\t\\n<=>] [^\\n]* | "<"{1,4} ( [^<\\n] [^\\n]* )? '
    '| "="{1,4} ( [^=\\n] [^\\n]* )? | ">"{1,4} ( [^>\\n] [^\\n]* )? )? "\\n"'
)


def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal (llama.cpp dialect)."""

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char, f"\\x{ord(char):02X}")

    body = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + _CONTROL.sub(escape, body) + '"'


def _replace_bound(file: ScopeFile) -> int:
    shown = sum(len(run) for run in file.runs())
    return max(MIN_REPLACE_LINES, min(MAX_REPLACE_LINES, 2 * shown))


def _listable(file: ScopeFile) -> bool:
    return 0 < sum(len(run) for run in file.runs()) <= MAX_LISTED_LINES


def _line_rules(name: str, file: ScopeFile, encode: Callable[[str], str]) -> tuple[str, list[str]]:
    """Rules admitting any contiguous run of ``file``'s shown lines, each as ``encode(line)``.

    Returns the name of the start rule and the rule definitions.
    """
    rules: list[str] = []
    starts: list[str] = []
    for r, run in enumerate(file.runs()):
        for k, line in enumerate(run):
            rule = f"{name}-r{r}-l{k}"
            starts.append(rule)
            rest = f" {name}-r{r}-l{k + 1}?" if k + 1 < len(run) else ""
            rules.append(f"{rule} ::= {gbnf_literal(encode(line))}{rest}")
    rules.insert(0, f"{name} ::= " + " | ".join(starts))
    return name, rules


def _bounded(rule: str, count: int) -> str:
    return f"{rule}{{0,{count}}}"


def search_replace_scoped_grammar(scope: EditScope) -> str:
    """GBNF: 1 to ``max_edits`` SEARCH/REPLACE blocks on the scope's files, nothing else."""
    rules = [
        f'root ::= block ( "\\n"? block ){{0,{scope.max_edits - 1}}}',
        "block ::= " + " | ".join(f"file{i}" for i in range(len(scope.files))),
        f"free ::= {_FREE_LINE}",
    ]
    for i, file in enumerate(scope.files):
        if _listable(file):
            search, lines = _line_rules(f"find{i}", file, lambda line: line + "\n")
            rules += lines
        else:
            search = "free+"
        rules.append(
            f'file{i} ::= {gbnf_literal(file.path)} "\\n<<<<<<< SEARCH\\n" {search} '
            f'"=======\\n" {_bounded("free", _replace_bound(file))} ">>>>>>> REPLACE\\n"'
        )
    return "\n".join(rules) + "\n"


def search_replace_scoped_regex(scope: EditScope) -> str:
    """The blocks as a regular expression (paths and block count enforced; lines free)."""
    line = (
        r"[ \t]*(?:[^ \t\n<=>][^\n]*|<{1,4}(?:[^<\n][^\n]*)?"
        r"|={1,4}(?:[^=\n][^\n]*)?|>{1,4}(?:[^>\n][^\n]*)?)?\n"
    )
    paths = "|".join(re.escape(p) for p in scope.paths)
    block = f"(?:{paths})\\n<<<<<<< SEARCH\\n(?:{line})+=======\\n(?:{line})*>>>>>>> REPLACE\\n"
    return f"(?:{block})(?:\\n?(?:{block})){{0,{scope.max_edits - 1}}}"


def _json_text(text: str) -> str:
    """``text`` as it appears inside a JSON string (no quotes)."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


_JSON_CHAR = '[^"\\\\\\x7F\\x00-\\x1F] | "\\\\" ( ["\\\\/bfnrt] | "u" [0-9a-fA-F]{4} )'


def json_scoped_grammar(scope: EditScope) -> str:
    """GBNF of the JSON envelope with the scope's paths, shown lines as ``search`` text,
    1 to ``max_edits`` edits and a bounded explanation."""
    rules = [
        'root ::= "{" ws "\\"edits\\"" colon "[" ws edit ( comma edit )'
        f'{{0,{scope.max_edits - 1}}} ws "]" comma "\\"run_tests\\"" colon boolean comma '
        '"\\"explanation\\"" colon "\\"" char{0,300} "\\"" ws "}"',
        "edit ::= " + " | ".join(f"file{i}" for i in range(len(scope.files))),
        'colon ::= ws ":" ws',
        'comma ::= ws "," ws',
        'boolean ::= "true" | "false"',
        f"char ::= {_JSON_CHAR}",
        'ws ::= ( " " | "\\n" [ \\t]{0,20} )?',
    ]
    for i, file in enumerate(scope.files):
        if _listable(file):
            search, lines = _line_rules(f"find{i}", file, lambda line: _json_text(line + "\n"))
            rules += lines
        else:
            search = "char+"
        rules.append(
            f'file{i} ::= "{{" ws "\\"path\\"" colon {gbnf_literal(json.dumps(file.path))} '
            f'comma "\\"search\\"" colon "\\"" {search} "\\"" comma "\\"replace\\"" colon '
            f'"\\"" char* "\\"" ws "}}"'
        )
    return "\n".join(rules) + "\n"


def json_scoped_schema(scope: EditScope, schema: dict[str, object]) -> dict[str, object]:
    """``schema`` (the envelope's) with ``path`` limited to the scope and ``maxItems`` set."""
    edits = dict(schema["properties"]["edits"])  # type: ignore[index]
    items = dict(edits["items"])
    properties = dict(items["properties"])
    properties["path"] = {**properties["path"], "enum": list(scope.paths)}
    items["properties"] = properties
    edits.update(items=items, minItems=1, maxItems=scope.max_edits)
    out = dict(schema)
    out["properties"] = {**schema["properties"], "edits": edits}  # type: ignore[dict-item]
    return out


def udiff_scoped_grammar(scope: EditScope) -> str:
    """GBNF: a ```diff fence with sections on the scope's paths (at most ``max_edits`` sections
    of at most ``max_edits`` hunks); unchanged and removed lines are lines of the shown file."""
    rules = [
        f'root ::= "```diff\\n" section ( section ){{0,{scope.max_edits - 1}}} "```" "\\n"?',
        "section ::= " + " | ".join(f"file{i}" for i in range(len(scope.files))),
        'range ::= [0-9]{1,6} ( "," [0-9]{1,6} )?',
        'header ::= "@@ -" range " +" range " @@" [^\\n]* "\\n"',
        'added ::= "+" [^\\n]* "\\n"',
    ]
    for i, file in enumerate(scope.files):
        if _listable(file):
            _, lines = _line_rules(f"old{i}", file, lambda line: line + "\n")
            # Every listed line may appear as unchanged (" ") or removed ("-").
            lines = [_prefix_lines(rule) for rule in lines]
            rules += lines
            body = f"( old{i} | added )"
        else:
            body = '( [ -] [^\\n]* "\\n" | added )'
        bound = _replace_bound(file) + MIN_REPLACE_LINES
        rules.append(
            f'file{i} ::= "--- a/" {gbnf_literal(file.path)} "\\n+++ b/" '
            f'{gbnf_literal(file.path)} "\\n" hunk{i} ( hunk{i} ){{0,{scope.max_edits - 1}}}'
        )
        rules.append(f"hunk{i} ::= header {body}{{1,{bound}}}")
    return "\n".join(rules) + "\n"


_LITERAL_START = re.compile(r'::= "')


def _prefix_lines(rule: str) -> str:
    """A line rule whose literal may start with either ``" "`` or ``"-"``."""
    return _LITERAL_START.sub('::= [ -] "', rule, count=1) if ' ::= "' in rule else rule
