"""The JSON envelope ``{"edits": [...], "run_tests": bool, "explanation": str}``.

For servers that constrain output to a JSON schema. Extraction is robust: prose before the
object, code fences and trailing text are skipped, and the first top-level object that parses
is taken (found with a brace scan that respects strings). Parsing is strict JSON with one
exception: raw control characters inside strings (a literal newline or tab in code) are
accepted, because their meaning is unambiguous and rejecting them would cost small models a
whole iteration. Trailing commas, comments, single quotes, NaN and duplicate keys are
ParseErrors. The object is then validated against :data:`ENVELOPE_SCHEMA`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from patchloop.domain import Edit, EditScope, OutputContract, Patch
from patchloop.edits.apply import apply_edits
from patchloop.edits.contracts import json_scoped_grammar, json_scoped_schema
from patchloop.edits.grammar import JSON_ENVELOPE_GBNF
from patchloop.edits.prompts import load_prompt
from patchloop.errors import ParseError

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = ["ENVELOPE_SCHEMA", "Envelope", "JsonFormat", "extract_json", "parse_envelope"]

_STRING = {"type": "string"}
ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "edits": {
            "type": "array",
            "description": "Edits relative to the original files, applied in order.",
            "items": {
                "type": "object",
                "properties": {
                    "path": {
                        **_STRING,
                        "description": "File path relative to the repository root.",
                    },
                    "search": {
                        **_STRING,
                        "description": "Exact text of the original file; empty creates the file.",
                    },
                    "replace": {**_STRING, "description": "Text that replaces it."},
                },
                "required": ["path", "search", "replace"],
                "additionalProperties": False,
            },
        },
        "run_tests": {"type": "boolean", "description": "Run the tests on the result."},
        "explanation": {**_STRING, "description": "One sentence on what the edits fix."},
    },
    "required": ["edits", "run_tests", "explanation"],
    "additionalProperties": False,
}
"""JSON schema of the envelope: every key required, no others (OpenAI strict mode accepts it)."""

_EXAMPLE = (
    '{"edits": [{"path": "src/app.py", "search": "exact old lines\\n", '
    '"replace": "new lines\\n"}], "run_tests": true, "explanation": "one sentence"}'
)
_MAX_STARTS = 200


@dataclass(frozen=True)
class Envelope:
    """A parsed envelope."""

    edits: tuple[Edit, ...]
    run_tests: bool
    explanation: str


def _error(problem: str, detail: str = "") -> ParseError:
    body = f"Could not parse your reply: {problem}."
    if detail:
        body += f"\n{detail}"
    body += (
        "\n\nReply with one JSON object and nothing else, in exactly this shape:\n"
        f"{_EXAMPLE}\nSend the complete set of edits again."
    )
    return ParseError(f"json: {problem}", feedback=body)


def _object_end(text: str, start: int) -> int | None:
    """Index after the ``}`` closing the object opened at ``start``; ``None`` if unclosed."""
    depth = 0
    in_string = False
    i = start
    while i < len(text):
        c = text[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _loads(text: str) -> Any:
    return json.loads(text, strict=False, object_pairs_hook=_pairs, parse_constant=_constant)


def _describe(exc: ValueError, text: str) -> str:
    if isinstance(exc, json.JSONDecodeError):
        line = text.split("\n")[exc.lineno - 1]
        lo = max(0, exc.colno - 40)
        excerpt = line[lo : exc.colno + 40]
        caret = " " * (exc.colno - 1 - lo) + "^"
        return (
            f"{exc.msg} at line {exc.lineno} column {exc.colno} of the object:\n{excerpt}\n{caret}"
        )
    return str(exc)


def extract_json(text: str) -> Any:
    """The first top-level JSON object in ``text`` with an ``edits`` key (or any object).

    Raises :class:`ParseError` with the JSON error and where it is, or with "not closed" when
    the reply stops inside the object (truncated output).
    """
    first_object: Any = None
    first_error: str | None = None
    unclosed = closed = False
    start = text.find("{")
    tries = 0
    while start != -1 and tries < _MAX_STARTS:
        tries += 1
        end = _object_end(text, start)
        if end is None:
            # A brace in prose may never close; the envelope after it still might.
            unclosed = unclosed or not closed
            start = text.find("{", start + 1)
            continue
        closed = True
        candidate = text[start:end]
        try:
            value = _loads(candidate)
        except ValueError as exc:
            if first_error is None:
                first_error = _describe(exc, candidate)
        else:
            if isinstance(value, dict) and "edits" in value:
                return value
            if first_object is None:
                first_object = value
        start = text.find("{", end)
    if unclosed:
        raise _error("the JSON object is not closed (the reply may be truncated)")
    if first_error is not None:
        raise _error("the reply is not valid JSON", first_error)
    if first_object is not None:
        return first_object
    raise _error("it contains no JSON object")


@cache
def _validator() -> Validator:
    # Imported here: jsonschema is slow to import and only this format needs it.
    from jsonschema import Draft202012Validator

    return Draft202012Validator(ENVELOPE_SCHEMA)


def _validate(value: Any) -> None:
    errors = sorted(_validator().iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        return
    lines = [f"- at {e.json_path}: {e.message}" for e in errors[:8]]
    if len(errors) > 8:
        lines.append(f"- and {len(errors) - 8} more")
    first = errors[0].json_path
    raise _error(
        f"the JSON object does not match the schema (first problem at {first})", "\n".join(lines)
    )


def parse_envelope(text: str) -> Envelope:
    """The envelope in ``text``: extracted, parsed, validated. Pure; raises ParseError."""
    value = extract_json(text)
    _validate(value)
    edits: list[Edit] = []
    for i, item in enumerate(value["edits"]):
        if not item["path"].strip():
            raise _error(f"the path at $.edits[{i}].path is empty")
        edits.append(
            Edit(path=item["path"].strip(), search=item["search"], replace=item["replace"])
        )
    return Envelope(tuple(edits), value["run_tests"], value["explanation"])


class JsonFormat:
    """The JSON envelope, for servers that constrain output to a JSON schema."""

    name: str = "json"

    def instructions(self) -> str:
        """How to write the envelope, with an example."""
        return load_prompt("json")

    def contract(self, scope: EditScope | None = None) -> OutputContract:
        """The envelope's JSON schema, and a strict GBNF grammar for grammar-only engines;
        with ``scope``, limited to its paths, shown lines and edit count (see
        :mod:`patchloop.edits.contracts`)."""
        if scope is None or not scope.files:
            return OutputContract(
                name=self.name,
                json_schema=copy.deepcopy(ENVELOPE_SCHEMA),
                grammar=JSON_ENVELOPE_GBNF,
            )
        return OutputContract(
            name=self.name,
            json_schema=json_scoped_schema(scope, copy.deepcopy(ENVELOPE_SCHEMA)),
            grammar=json_scoped_grammar(scope),
        )

    def parse(self, text: str) -> list[Edit]:
        """Edits of the envelope in ``text``; see :func:`parse_envelope`."""
        return list(parse_envelope(text).edits)

    def apply(self, root: Path, edits: Sequence[Edit], *, dry_run: bool = True) -> Patch:
        """Apply ``edits`` to the tree at ``root``; see :func:`~patchloop.edits.apply_edits`."""
        return apply_edits(root, edits, dry_run=dry_run, label=self.name)
