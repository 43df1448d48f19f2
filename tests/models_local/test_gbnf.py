"""JSON schemas to GBNF: the strict-JSON fix of the string-character rule."""

from __future__ import annotations

import json
import re

import pytest
from llama_cpp.llama_grammar import json_schema_to_gbnf

from patchloop.edits import ENVELOPE_SCHEMA
from patchloop.errors import BadRequest
from patchloop.models._gbnf import STRICT_CHAR, make_strict, strict_json_grammar


def _rule(gbnf: str, name: str) -> str:
    found = re.search(rf"^{name} ::= (.*)$", gbnf, re.MULTILINE)
    assert found is not None, f"no {name} rule in:\n{gbnf}"
    return found.group(1)


def test_upstream_char_rule_admits_control_characters() -> None:
    # The reason for the fix: the converter's rule excludes only the quote and the backslash.
    upstream = json_schema_to_gbnf(json.dumps(ENVELOPE_SCHEMA))
    assert _rule(upstream, "char").startswith('[^"\\\\] |')


def test_envelope_grammar_excludes_control_characters_in_strings() -> None:
    gbnf = strict_json_grammar(ENVELOPE_SCHEMA)
    assert _rule(gbnf, "char").startswith(STRICT_CHAR + " |")
    assert "\\x00-\\x1F" in STRICT_CHAR
    assert "\\x7F" in STRICT_CHAR
    # Everything but the char rule is the converter's own output.
    upstream = json_schema_to_gbnf(json.dumps(ENVELOPE_SCHEMA))
    assert make_strict(upstream) == gbnf
    assert gbnf.replace(STRICT_CHAR, '[^"\\\\]') == upstream


def test_pattern_dot_is_narrowed_too() -> None:
    schema = {"type": "object", "properties": {"id": {"type": "string", "pattern": "^a.c$"}}}
    assert _rule(strict_json_grammar(schema), "dot") == STRICT_CHAR


def test_unsupported_schema_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="cannot turn the output schema into a grammar"):
        strict_json_grammar({"type": "object", "properties": {"x": {"type": "complex"}}})
