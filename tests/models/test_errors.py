"""Error bodies of every server shape, Retry-After, and the status-to-error mapping."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from patchloop.errors import (
    AuthError,
    BadRequest,
    ContextTooLong,
    ModelError,
    ModelUnavailable,
    RateLimited,
)
from patchloop.models._errors import (
    ErrorInfo,
    error_for_status,
    parse_error_body,
    parse_retry_after,
)


@pytest.mark.parametrize(
    ("body", "info"),
    [
        ('{"error": {"message": "m", "type": "t", "code": "c"}}', ErrorInfo("m", "t", "c")),
        (
            '{"object": "error", "message": "m", "type": "t", "code": 400}',
            ErrorInfo("m", "t", "400"),
        ),
        ('{"error": "m", "error_type": "overloaded"}', ErrorInfo("m", "overloaded")),
        ('{"detail": "m"}', ErrorInfo("m")),
        ("Internal Server Error\n", ErrorInfo("Internal Server Error")),
        ('["odd"]', ErrorInfo('["odd"]')),
    ],
    ids=["openai", "vllm-flat", "tgi", "fastapi", "text", "list"],
)
def test_parse_error_body(body: str, info: ErrorInfo) -> None:
    assert parse_error_body(body) == info


def test_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "7"}) == 7.0
    assert parse_retry_after({"retry-after-ms": "250", "Retry-After": "7"}) == 0.25
    assert parse_retry_after({"Retry-After": formatdate(1000.0, usegmt=True)}, now=990.0) == 10.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


@pytest.mark.parametrize(
    ("status", "body", "cls", "retryable"),
    [
        (429, '{"error": {"message": "x", "type": "rate_limit_exceeded"}}', RateLimited, True),
        (429, '{"error": {"message": "x", "code": "insufficient_quota"}}', RateLimited, False),
        (401, "no", AuthError, False),
        (403, "no", AuthError, False),
        (408, "slow", ModelUnavailable, True),
        (409, "busy", ModelUnavailable, True),
        (500, "boom", ModelUnavailable, True),
        (503, "loading", ModelUnavailable, True),
        (
            400,
            '{"error": {"code": "context_length_exceeded", "message": "x"}}',
            ContextTooLong,
            False,
        ),
        (413, "prompt is too long", ContextTooLong, False),
        (
            422,
            '{"error": "`inputs` must have less than 2048 tokens. Given: 3000"}',
            ContextTooLong,
            False,
        ),
        (400, '{"error": {"message": "bad schema"}}', BadRequest, False),
        (404, "not found", BadRequest, False),
    ],
)
def test_status_mapping(status: int, body: str, cls: type[ModelError], retryable: bool) -> None:
    err = error_for_status(status, body, {}, url="http://h/x", key_hint="set KEY")
    assert type(err) is cls
    assert err.retryable is retryable
    assert f"answered {status}" in str(err)
