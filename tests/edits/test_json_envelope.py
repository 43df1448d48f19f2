"""The JSON envelope: extraction from messy replies, strictness, schema validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from patchloop.domain import Edit
from patchloop.edits import ENVELOPE_SCHEMA, JsonFormat, parse_envelope
from patchloop.errors import ParseError
from tests.edits.helpers import git_apply_check

ENVELOPE = {
    "edits": [
        {"path": "shop/cart.py", "search": "    return len(items)\n", "replace": "    return 0\n"}
    ],
    "run_tests": True,
    "explanation": "count is {always} zero",
}
TEXT = json.dumps(ENVELOPE)
EDIT = Edit(path="shop/cart.py", search="    return len(items)\n", replace="    return 0\n")


def test_plain_object() -> None:
    envelope = parse_envelope(TEXT)
    assert envelope.edits == (EDIT,)
    assert envelope.run_tests is True
    assert envelope.explanation == "count is {always} zero"


@pytest.mark.parametrize(
    "reply",
    [
        "```json\n" + TEXT + "\n```",
        "Here is the fix {as promised}:\n\n```json\n"
        + json.dumps(ENVELOPE, indent=2)
        + "\n```\nDone.",
        "Sure. " + TEXT + " Let me know if {this} works.",
        "I'll use {x: 1} notation.\n" + TEXT,
        "Unbalanced { in prose, then " + TEXT,
        TEXT + "\n" + TEXT.replace("return 0", "return 1"),
    ],
)
def test_extraction(reply: str) -> None:
    assert parse_envelope(reply).edits == (EDIT,)


def test_braces_and_quotes_inside_strings() -> None:
    value = {
        "edits": [{"path": "a.js", "search": 'if (x) { y("}"); }\n', "replace": '{\\"}\n'}],
        "run_tests": False,
        "explanation": "}{",
    }
    envelope = parse_envelope("prefix " + json.dumps(value) + " suffix }")
    assert envelope.edits[0].search == 'if (x) { y("}"); }\n'
    assert envelope.edits[0].replace == '{\\"}\n'


def test_raw_control_characters_in_strings_are_accepted() -> None:
    # Decided: a raw newline or tab inside a string means itself; documented in the module.
    raw = (
        '{"edits": [{"path": "a.py", "search": "x = 1\n", "replace": "\tx = 2\n"}], '
        '"run_tests": true, "explanation": ""}'
    )
    (edit,) = parse_envelope(raw).edits
    assert edit.search == "x = 1\n"
    assert edit.replace == "\tx = 2\n"


def expect_error(reply: str, *expected: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse_envelope(reply)
    for text in expected:
        assert text in info.value.feedback
    assert '{"edits": [{"path": "src/app.py"' in info.value.feedback
    return info.value


def test_no_object() -> None:
    expect_error("I could not find the bug.", "contains no JSON object")


def test_truncated_object() -> None:
    expect_error(TEXT[:-30], "not closed", "truncated")


def test_trailing_comma_names_the_position() -> None:
    broken = '{"edits": [], "run_tests": true, "explanation": "x",}'
    error = expect_error(broken, "not valid JSON", "line 1 column 53 of the object")
    assert str(error).startswith("json:")


def test_single_quotes_nan_and_duplicates_are_rejected() -> None:
    expect_error("{'edits': [], 'run_tests': true, 'explanation': ''}", "not valid JSON")
    expect_error('{"edits": [], "run_tests": NaN, "explanation": ""}', "NaN is not valid JSON")
    expect_error(
        '{"edits": [], "edits": [], "run_tests": true, "explanation": ""}', "duplicate key 'edits'"
    )


def with_(**changes: Any) -> str:
    value: dict[str, Any] = json.loads(TEXT)
    value.update(changes)
    return json.dumps(value)


def test_schema_errors_name_the_field() -> None:
    expect_error(
        json.dumps({"edits": [], "run_tests": True}), "'explanation' is a required property"
    )
    expect_error(with_(run_tests="yes"), "at $.run_tests: 'yes' is not of type 'boolean'")
    expect_error(
        with_(edits=[{"path": 5, "search": "", "replace": ""}]),
        "first problem at $.edits[0].path",
        "5 is not of type 'string'",
    )
    expect_error(
        with_(edits=[{"path": "a", "search": "", "replace": "", "line": 3}]),
        "at $.edits[0]: Additional properties are not allowed ('line' was unexpected)",
    )
    expect_error(with_(edits={"path": "a"}), "at $.edits:")
    expect_error("[1, 2]", "contains no JSON object")
    expect_error(
        with_(edits=[{"path": "  ", "search": "", "replace": "x"}]), "$.edits[0].path is empty"
    )


def test_empty_edit_list_is_well_formed() -> None:
    assert parse_envelope(with_(edits=[])).edits == ()


def test_schema_is_strict_mode_compatible() -> None:
    Draft202012Validator.check_schema(ENVELOPE_SCHEMA)

    def walk(node: dict[str, Any], where: str) -> None:
        if node.get("type") == "object":
            assert node["additionalProperties"] is False, where
            assert sorted(node["required"]) == sorted(node["properties"]), where
            for key, child in node["properties"].items():
                walk(child, f"{where}.{key}")
        if node.get("type") == "array":
            walk(node["items"], f"{where}[]")
        # Keywords OpenAI's strict mode has rejected.
        assert not {"minLength", "maxLength", "pattern", "format", "minItems"} & node.keys()

    walk(ENVELOPE_SCHEMA, "$")


def test_contract_carries_schema_and_grammar() -> None:
    contract = JsonFormat().contract()
    assert contract.name == "json"
    assert contract.json_schema == ENVELOPE_SCHEMA
    assert contract.grammar is not None
    assert contract.grammar.lstrip().startswith("root ::=")
    contract.json_schema["type"] = "changed"  # type: ignore[index]
    assert ENVELOPE_SCHEMA["type"] == "object"


def test_format_applies_the_envelope(repo: Path) -> None:
    fmt = JsonFormat()
    edits = fmt.parse("```json\n" + TEXT + "\n```")
    patch = fmt.apply(repo, edits)
    assert patch.label == "json"
    assert "+    return 0" in patch.diff
    assert git_apply_check(repo, patch.diff).returncode == 0


def test_format_applies_single_line_searches(repo: Path) -> None:
    value = {
        "edits": [
            {
                "path": "shop/cart.py",
                "search": "return len(items)",
                "replace": "return len(items) * 2",
            }
        ],
        "run_tests": True,
        "explanation": "",
    }
    patch = JsonFormat().apply(repo, JsonFormat().parse(json.dumps(value)))
    assert "+    return len(items) * 2" in patch.diff
