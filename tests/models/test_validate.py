"""Strict client-side validation of JSON replies."""

from __future__ import annotations

import pytest

from patchloop.errors import BadOutput, UsageError
from patchloop.models import validate_json_output
from tests.models.conftest import SCHEMA


def test_valid_json_with_surrounding_whitespace() -> None:
    assert validate_json_output('\n  {"answer": 4}\n', SCHEMA) == {"answer": 4}
    assert validate_json_output("[1, 2]") == [1, 2]


@pytest.mark.parametrize(
    "text",
    [
        '```json\n{"answer": 4}\n```',
        'Here you go: {"answer": 4}',
        '{"answer": 4} trailing',
        '{"answer": NaN}',
        '{"answer": "a\tb"}',
        '{"answer": 4',
        "",
    ],
)
def test_not_strict_json(text: str) -> None:
    with pytest.raises(BadOutput, match="not valid JSON"):
        validate_json_output(text, SCHEMA)


@pytest.mark.parametrize(
    ("text", "where"),
    [('{"answer": "four"}', "answer"), ("{}", "top level"), ('{"answer": 1, "x": 2}', "top level")],
)
def test_schema_violations(text: str, where: str) -> None:
    with pytest.raises(BadOutput, match=where):
        validate_json_output(text, SCHEMA)


def test_invalid_schema_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        validate_json_output("{}", {"type": "no-such-type"})
