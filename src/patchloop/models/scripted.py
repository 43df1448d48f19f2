"""A model that replays scripted replies: the test double of the ``Model`` seam, shipped as a
feature for tests, demos, replays and fault drills.

Replies come from a list or a file (``scripted:replies.jsonl``). Each JSONL line is either a
JSON string (the reply text) or an object::

    {"text": "...", "delay_s": 0.5, "finish_reason": "length"}
    {"raise": "RateLimited", "message": "slow down", "retry_after": 2}

``raise`` names a :class:`~patchloop.errors.ModelError` class. A JSON array file works too.
Every request is kept in :attr:`ScriptedModel.history`. Usage is estimated; cached tokens are
the estimated tokens of the prefix shared with the previous prompt, as a server's prefix cache
would report them.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from patchloop import errors
from patchloop.config import ModelSettings
from patchloop.context.tokens import estimate_tokens
from patchloop.domain import Capabilities, Completion, CompletionRequest, Sampling, Usage
from patchloop.errors import ModelError, ModelTimeout, ModelUnavailable, RateLimited, UsageError
from patchloop.models._render import common_prefix, render_plain
from patchloop.models.spec import ModelSpec

__all__ = ["ScriptedModel", "ScriptedReply", "from_spec", "load_replies"]


def _error_class(name: str) -> type[ModelError]:
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, ModelError)):
        valid = sorted(
            n
            for n in errors.__all__
            if isinstance(getattr(errors, n), type) and issubclass(getattr(errors, n), ModelError)
        )
        raise ValueError(f"{name!r} is not a model error; valid: {', '.join(valid)}")
    return cls


class ScriptedReply(BaseModel):
    """One scripted reply or fault."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    text: str = ""
    delay_s: float = 0.0
    """Seconds to wait before answering (or raising); past the request's ``timeout_s`` the
    reply is cut off there with ``ModelTimeout``."""
    finish_reason: str = "stop"
    """``length`` simulates a truncated reply."""
    raise_: str | None = Field(default=None, alias="raise")
    """Name of a ``ModelError`` class to raise instead of answering."""
    message: str | None = None
    """Message of the raised error."""
    retry_after: float | None = None
    """``retry_after`` of a raised ``RateLimited``."""

    @field_validator("raise_")
    @classmethod
    def _known_error(cls, value: str | None) -> str | None:
        if value is not None:
            _error_class(value)
        return value

    def error(self) -> ModelError | None:
        """The exception this reply raises, if it is a fault."""
        if self.raise_ is None:
            return None
        message = self.message or f"scripted {self.raise_}"
        if self.raise_ == "RateLimited":
            return RateLimited(message, retry_after=self.retry_after)
        return _error_class(self.raise_)(message)


Reply = str | ScriptedReply | Completion


def _reply_from_json(value: object) -> Reply:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return ScriptedReply.model_validate(value)
    raise ValueError("expected a JSON string or object")


def load_replies(path: Path) -> list[Reply]:
    """Replies from a JSONL file (one per line) or a JSON array file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"cannot read scripted replies {path}: {exc.strerror}",
            hint="give a JSONL file with one reply per line",
        ) from exc
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
            return [_reply_from_json(v) for v in items]
        except (ValueError, ValidationError) as exc:
            raise UsageError(f"{path}: not a JSON array of replies: {exc}") from exc
    replies: list[Reply] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            replies.append(_reply_from_json(json.loads(line)))
        except (ValueError, ValidationError) as exc:
            raise UsageError(
                f"{path}:{number}: bad scripted reply: {exc}",
                hint='each line is a JSON string or an object like {"text": "..."}',
            ) from exc
    return replies


class ScriptedModel:
    """Replays ``replies`` in order; records every request in :attr:`history`."""

    def __init__(
        self,
        replies: Iterable[Reply | dict[str, object]],
        name: str = "scripted",
        *,
        capabilities: Capabilities | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        try:
            self._replies: deque[Reply] = deque(
                ScriptedReply.model_validate(r) if isinstance(r, dict) else r for r in replies
            )
        except ValidationError as exc:
            raise UsageError(f"bad scripted reply: {exc}") from exc
        self._name = name
        self._capabilities = capabilities or Capabilities(reports_cached_tokens=True)
        self._sleep = time.sleep if sleep is None else sleep
        self._lock = threading.Lock()
        self._last_prompt = ""
        #: Every request received, in order (also those answered with a fault).
        self.history: list[CompletionRequest] = []

    @classmethod
    def from_file(cls, path: str | Path, name: str | None = None) -> ScriptedModel:
        """Replies from a JSONL or JSON array file."""
        path = Path(path)
        return cls(load_replies(path), name=name or f"scripted:{path}")

    def __repr__(self) -> str:
        return f"ScriptedModel({self._name!r}, {len(self._replies)} replies left)"

    @property
    def name(self) -> str:
        """The name given (the spec, when built from one)."""
        return self._name

    @property
    def capabilities(self) -> Capabilities:
        """No constraint enforcement; cached tokens are simulated."""
        return self._capabilities

    @property
    def remaining(self) -> int:
        """Replies not yet used."""
        return len(self._replies)

    def count_tokens(self, text: str) -> int:
        """The documented estimate of :func:`patchloop.context.tokens.estimate_tokens`."""
        return estimate_tokens(text)

    def complete_many(
        self, request: CompletionRequest, samplings: Sequence[Sampling]
    ) -> list[Completion]:
        """The next ``len(samplings)`` replies, one request recorded per sampling."""
        return [self.complete(request.model_copy(update={"sampling": s})) for s in samplings]

    def complete(self, request: CompletionRequest) -> Completion:
        """The next scripted reply, or its fault."""
        started = time.perf_counter()
        with self._lock:
            self.history.append(request)
            if not self._replies:
                raise ModelUnavailable(
                    "scripted replies exhausted",
                    hint=f"{len(self.history) - 1} replies were used; script more",
                    retryable=False,
                )
            reply = self._replies.popleft()
        if isinstance(reply, Completion):
            return reply
        if isinstance(reply, str):
            reply = ScriptedReply(text=reply)
        limit = request.timeout_s
        if limit is not None and reply.delay_s > limit:
            # A server this slow is cut off at the request's time limit, as HTTP backends are.
            self._sleep(max(0.0, limit))
            raise ModelTimeout(
                f"scripted reply takes {reply.delay_s:.3g}s; the request allows {limit:.3g}s",
                hint="raise the time budget (--timeout) or shorten the scripted delay",
            )
        if reply.delay_s > 0:
            self._sleep(reply.delay_s)
        fault = reply.error()
        if fault is not None:
            raise fault
        prompt = render_plain(request.messages)
        with self._lock:
            cached = estimate_tokens(common_prefix(prompt, self._last_prompt))
            self._last_prompt = prompt
        return Completion(
            text=reply.text,
            finish_reason=reply.finish_reason,
            usage=Usage(
                prompt_tokens=estimate_tokens(prompt),
                completion_tokens=estimate_tokens(reply.text),
                cached_tokens=cached,
            ),
            latency_s=time.perf_counter() - started,
            model=self._name,
        )


def from_spec(
    spec: ModelSpec, settings: ModelSettings, *, capabilities: Capabilities | None = None
) -> ScriptedModel:
    """Build a scripted model from ``scripted:PATH``; ``settings`` are not used."""
    del settings
    path = Path(spec.target)
    return ScriptedModel(load_replies(path), name=str(spec), capabilities=capabilities)
