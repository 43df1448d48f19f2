"""The scripted model: replies, history, faults, exhaustion, prefix-cache accounting, files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patchloop.context.tokens import estimate_tokens
from patchloop.domain import Completion, CompletionRequest, Message, Usage
from patchloop.errors import (
    BadOutput,
    ContextTooLong,
    ModelTimeout,
    ModelUnavailable,
    RateLimited,
    UsageError,
)
from patchloop.models import ScriptedModel, build_model
from patchloop.models._render import render_plain
from tests.models.conftest import Sleeps, request


def _ask(text: str, *history: str) -> CompletionRequest:
    messages = [Message(role="system", content="RULES " * 50)]
    messages += [Message(role="user", content=h) for h in history]
    messages.append(Message(role="user", content=text))
    return CompletionRequest(messages=tuple(messages))


def test_replies_in_order_and_history() -> None:
    model = ScriptedModel(["one", {"text": "two", "finish_reason": "length"}])
    first = model.complete(request())
    second = model.complete(_ask("again"))
    assert (first.text, first.finish_reason) == ("one", "stop")
    assert (second.text, second.finish_reason) == ("two", "length")
    assert model.history == [request(), _ask("again")]
    assert model.remaining == 0
    assert first.model == "scripted"
    assert first.usage.completion_tokens == estimate_tokens("one")


def test_exhaustion_is_not_retryable() -> None:
    model = ScriptedModel(["only"])
    model.complete(request())
    with pytest.raises(ModelUnavailable, match="exhausted") as info:
        model.complete(request())
    assert not info.value.retryable
    assert len(model.history) == 2


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("RateLimited", RateLimited),
        ("ModelUnavailable", ModelUnavailable),
        ("ModelTimeout", ModelTimeout),
        ("ContextTooLong", ContextTooLong),
        ("BadOutput", BadOutput),
    ],
)
def test_raise_faults(name: str, cls: type[Exception]) -> None:
    model = ScriptedModel([{"raise": name, "message": "injected"}, "after"])
    with pytest.raises(cls, match="injected"):
        model.complete(request())
    assert model.complete(request()).text == "after"


def test_rate_limit_carries_retry_after() -> None:
    model = ScriptedModel([{"raise": "RateLimited", "retry_after": 3}])
    with pytest.raises(RateLimited) as info:
        model.complete(request())
    assert info.value.retry_after == 3


def test_delay_and_malformed_output(sleeps: Sleeps) -> None:
    model = ScriptedModel([{"text": "{not json", "delay_s": 0.25}], sleep=sleeps)
    completion = model.complete(request())
    assert sleeps == [0.25]
    assert completion.text == "{not json"


def test_unknown_fault_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="not a model error"):
        ScriptedModel([{"raise": "KeyError"}])


def test_recorded_completions_replay_exactly() -> None:
    recorded = Completion(
        text="x", usage=Usage(prompt_tokens=900, completion_tokens=5, cached_tokens=800)
    )
    assert ScriptedModel([recorded]).complete(request()) == recorded


def test_prefix_cache_accounting() -> None:
    model = ScriptedModel(["a", "b", "c"])
    first = model.complete(_ask("task"))
    second = model.complete(_ask("feedback 1", "task"))
    third = model.complete(_ask("feedback 1", "task"))
    assert first.usage.cached_tokens == 0
    shared = render_plain(_ask("task").messages)[: -len("task\n<|assistant|>\n")]
    assert render_plain(_ask("feedback 1", "task").messages).startswith(shared)
    assert second.usage.cached_tokens >= estimate_tokens(shared)
    assert second.usage.cached_tokens < second.usage.prompt_tokens
    assert third.usage.cached_tokens == third.usage.prompt_tokens  # identical prompt


def test_jsonl_file(tmp_path: Path) -> None:
    path = tmp_path / "replies.jsonl"
    path.write_text(
        '"first"\n\n{"text": "second", "finish_reason": "length"}\n{"raise": "ModelTimeout"}\n'
    )
    model = ScriptedModel.from_file(path)
    assert model.name == f"scripted:{path}"
    assert model.complete(request()).text == "first"
    assert model.complete(request()).finish_reason == "length"
    with pytest.raises(ModelTimeout):
        model.complete(request())


def test_json_array_file_and_spec(tmp_path: Path) -> None:
    path = tmp_path / "replies.json"
    path.write_text(json.dumps(["a", {"text": "b"}]))
    model = build_model(f"scripted:{path}")
    assert [model.complete(request()).text for _ in range(2)] == ["a", "b"]


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ('"ok"\n{"text": \n', 2),
        ('"ok"\n"fine"\n42\n', 3),
        ('{"text": "x", "colour": "red"}\n', 1),
    ],
)
def test_bad_jsonl_names_the_line(tmp_path: Path, content: str, line: int) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(content)
    with pytest.raises(UsageError, match=rf"r\.jsonl:{line}:"):
        ScriptedModel.from_file(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read scripted replies"):
        build_model(f"scripted:{tmp_path / 'nope.jsonl'}")
