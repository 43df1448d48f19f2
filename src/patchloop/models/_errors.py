"""Translate HTTP failures of inference servers into the patchloop error tree (pure functions).

Error bodies differ per server and version: OpenAI ``{"error": {"message", "type", "code"}}``,
flat vLLM ``{"object": "error", "message", "code"}``, TGI ``{"error": "...", "error_type"}``,
llama-server ``{"error": {"type": "exceed_context_size_error", ...}}``, FastAPI ``{"detail"}``,
or plain text. :func:`parse_error_body` reads them all.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from patchloop.errors import (
    AuthError,
    BadRequest,
    ContextTooLong,
    ModelError,
    ModelUnavailable,
    RateLimited,
)

__all__ = ["ErrorInfo", "error_for_status", "parse_error_body", "parse_retry_after"]

_CONTEXT_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error"})
_CONTEXT_WORDS = re.compile(
    r"maximum context length|context[ _-]?(length|window|size)|exceeds? the (available )?context"
    r"|prompt is too long|too many (input )?tokens|must have less than \d+ tokens"
    r"|tokens \+ `?max_new_tokens`? must be <=",
    re.IGNORECASE,
)
_MAX_MESSAGE = 500


@dataclass(frozen=True)
class ErrorInfo:
    """What an error body says, whatever its shape."""

    message: str
    type: str = ""
    code: str = ""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else json.dumps(value)


def parse_error_body(body: str) -> ErrorInfo:
    """Message, type and code of an error body; plain text becomes the message."""
    try:
        data = json.loads(body)
    except ValueError:
        return ErrorInfo(message=body.strip()[:_MAX_MESSAGE])
    if not isinstance(data, dict):
        return ErrorInfo(message=_text(data)[:_MAX_MESSAGE])
    err = data.get("error")
    if isinstance(err, dict):  # OpenAI, vLLM >= 0.10.1, llama-server
        return ErrorInfo(
            message=_text(err.get("message"))[:_MAX_MESSAGE],
            type=_text(err.get("type")),
            code=_text(err.get("code")),
        )
    if isinstance(err, str):  # TGI, LoRAX, Ollama native
        return ErrorInfo(message=err[:_MAX_MESSAGE], type=_text(data.get("error_type")))
    if "message" in data:  # flat vLLM < 0.10.1
        return ErrorInfo(
            message=_text(data.get("message"))[:_MAX_MESSAGE],
            type=_text(data.get("type")),
            code=_text(data.get("code")),
        )
    if "detail" in data:  # FastAPI / pydantic validation
        return ErrorInfo(message=_text(data["detail"])[:_MAX_MESSAGE])
    return ErrorInfo(message=body.strip()[:_MAX_MESSAGE])


def parse_retry_after(headers: dict[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    lower = {k.lower(): v for k, v in headers.items()}
    raw_ms = lower.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = lower.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def is_context_overflow(info: ErrorInfo) -> bool:
    """Whether an error body says the prompt does not fit the context window."""
    if info.type in _CONTEXT_CODES or info.code in _CONTEXT_CODES:
        return True
    return bool(_CONTEXT_WORDS.search(info.message))


def error_for_status(
    status: int, body: str, headers: dict[str, str], *, url: str, key_hint: str
) -> ModelError:
    """The error-tree exception for a non-2xx reply; ``retryable`` follows the retry policy."""
    info = parse_error_body(body)
    said = info.message or f"HTTP {status}"
    where = f"{url} answered {status}: {said}"
    if status == 429:
        if "insufficient_quota" in (info.type, info.code):
            err = RateLimited(where, hint="the account has no quota left; check plan and billing")
            err.retryable = False
            return err
        return RateLimited(where, retry_after=parse_retry_after(headers), hint="retry later")
    if status in (401, 403):
        return AuthError(where, hint=key_hint)
    if 400 <= status < 500 and is_context_overflow(info):
        return ContextTooLong(where, hint="shorten the prompt or lower the context budget")
    if status in (408, 409):
        return ModelUnavailable(where, hint="the server is busy; try again")
    if status == 424:  # TGI generation error: worth one more try, no more
        return ModelUnavailable(where, hint="the server failed to generate")
    if status >= 500:
        return ModelUnavailable(where, hint="the server failed; check its logs")
    if status == 404:
        return BadRequest(
            where,
            hint="check the base URL (OpenAI-compatible servers serve under /v1) and model name",
        )
    return BadRequest(where, hint="the server rejected the request")
