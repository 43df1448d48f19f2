"""The ``openai`` backend against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import httpx
import pytest

from patchloop.config import ModelSettings
from patchloop.errors import (
    AuthError,
    BadOutput,
    BadRequest,
    ContextTooLong,
    ModelTimeout,
    ModelUnavailable,
    RateLimited,
    UsageError,
)
from patchloop.models import parse_spec, validate_json_output
from patchloop.models.openai import OpenAIModel, from_spec
from tests.models.conftest import SCHEMA, Sleeps, chat_body, request
from tests.models.httpserver import Reply, TestServer, closed_port_url

CHAT = "/v1/chat/completions"


@pytest.fixture
def make(server: TestServer, settings: ModelSettings, sleeps: Sleeps) -> Iterator[Any]:
    built: list[OpenAIModel] = []

    def _make(
        kind: str = "openai", model: str | None = "m1", settings_: ModelSettings | None = None
    ) -> OpenAIModel:
        spec = parse_spec(f"{kind}:{server.url}/v1" + (f"#{model}" if model else ""))
        backend = from_spec(spec, settings_ or settings, sleep=sleeps)
        built.append(backend)
        return backend

    yield _make
    for backend in built:
        backend.close()


def test_success(server: TestServer, make: Any) -> None:
    server.add("POST", CHAT, Reply(200, chat_body("the fix", finish="length")))
    completion = make().complete(request(temperature=0.2, max_tokens=99, seed=7, stop=("END",)))
    assert completion.text == "the fix"
    assert completion.finish_reason == "length"
    assert completion.usage.prompt_tokens == 11
    assert completion.usage.completion_tokens == 3
    assert completion.model == "m1"
    assert completion.latency_s > 0
    (body,) = server.bodies(CHAT)
    assert body == {
        "model": "m1",
        "messages": [
            {"role": "system", "content": "You fix code."},
            {"role": "user", "content": "Fix the bug."},
        ],
        "max_tokens": 99,
        "temperature": 0.2,
        "seed": 7,
        "stop": ["END"],
        "stream": False,
    }
    assert server.requests[0].headers["content-type"] == "application/json"
    assert "authorization" not in server.requests[0].headers


def test_429_retry_after_is_honoured(server: TestServer, make: Any, sleeps: Sleeps) -> None:
    server.add(
        "POST",
        CHAT,
        Reply(
            429,
            {"error": {"message": "slow down", "type": "rate_limit_exceeded"}},
            headers={"Retry-After": "2"},
        ),
        Reply(200, chat_body("ok")),
    )
    model = make()
    assert model.complete(request()).text == "ok"
    assert sleeps == [2.0]
    assert len(server.requests) == 2
    assert model.retries == 1


def test_retry_after_http_date_and_cap(server: TestServer, make: Any, sleeps: Sleeps) -> None:
    server.add(
        "POST",
        CHAT,
        Reply(429, "busy", headers={"Retry-After": formatdate(time.time() + 3, usegmt=True)}),
        Reply(429, "busy", headers={"Retry-After": "100"}),
        Reply(200, chat_body("ok")),
    )
    assert make().complete(request()).text == "ok"
    assert 1.0 <= sleeps[0] <= 3.0
    assert sleeps[1] == 4.0  # capped at max_backoff_s


def test_500_then_success(server: TestServer, make: Any, sleeps: Sleeps) -> None:
    server.add("POST", CHAT, Reply(500, "Internal Server Error"), Reply(200, chat_body("ok")))
    assert make().complete(request()).text == "ok"
    assert len(sleeps) == 1
    assert 0.25 <= sleeps[0] <= 0.5  # backoff_s with jitter


def test_persistent_500_gives_up(server: TestServer, make: Any, sleeps: Sleeps) -> None:
    server.add("POST", CHAT, Reply(503, {"error": {"code": 503, "message": "Loading model"}}))
    with pytest.raises(ModelUnavailable, match="Loading model") as info:
        make().complete(request())
    assert info.value.retryable
    assert isinstance(info.value.__cause__, httpx.HTTPStatusError)
    assert len(server.requests) == 3  # one try and two retries
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[1] <= 1.0  # doubled


def test_read_timeout(server: TestServer, make: Any, sleeps: Sleeps) -> None:
    server.add("POST", CHAT, Reply(200, chat_body(), delay_s=5))
    fast = ModelSettings(request_timeout=0.3, retries=1, backoff_s=0.01)
    with pytest.raises(ModelTimeout) as info:
        make(settings_=fast).complete(request())
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert len(server.requests) == 2  # timeouts are retried
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": "c1", "choices": [{"message": {"content": "x"',
        b"<html>Bad gateway</html>",
        {"id": "c1", "object": "chat.completion"},
        {"choices": []},
        {"choices": [{"finish_reason": "stop"}]},
    ],
    ids=["truncated", "html", "no-choices", "empty-choices", "no-message"],
)
def test_malformed_200_is_bad_output(server: TestServer, make: Any, body: Any) -> None:
    server.add("POST", CHAT, Reply(200, body))
    with pytest.raises(BadOutput):
        make().complete(request())
    assert len(server.requests) == 1  # bad output is for the caller to retry


def test_reply_that_ignores_the_schema_is_returned(server: TestServer, make: Any) -> None:
    from tests.models.conftest import JSON_CONTRACT

    server.add("POST", CHAT, Reply(200, chat_body("Sure! Here is the answer: 42")))
    completion = make().complete(request(JSON_CONTRACT))
    assert completion.text == "Sure! Here is the answer: 42"
    with pytest.raises(BadOutput, match="not valid JSON"):
        validate_json_output(completion.text, SCHEMA)


@pytest.mark.parametrize(
    "body",
    [
        {
            "error": {
                "message": "This model's maximum context length is 8192 tokens.",
                "type": "invalid_request_error",
                "code": "context_length_exceeded",
            }
        },
        {
            "error": {
                "code": 400,
                "type": "exceed_context_size_error",
                "message": "request exceeds the available context size",
                "n_ctx": 4096,
            }
        },
        {
            "object": "error",
            "message": "This model's maximum context length is 4096 tokens. "
            "However, you requested 5000 tokens.",
            "type": "BadRequestError",
            "code": 400,
        },
    ],
    ids=["openai", "llama-server", "vllm-flat"],
)
def test_context_overflow(server: TestServer, make: Any, body: Any) -> None:
    server.add("POST", CHAT, Reply(400, body))
    with pytest.raises(ContextTooLong) as info:
        make().complete(request())
    assert not info.value.retryable
    assert len(server.requests) == 1


def test_401_is_auth_error(server: TestServer, make: Any) -> None:
    server.add("POST", CHAT, Reply(401, {"error": {"message": "Incorrect API key provided"}}))
    with pytest.raises(AuthError, match="Incorrect API key") as info:
        make().complete(request())
    assert "OPENAI_API_KEY" in str(info.value)
    assert len(server.requests) == 1


def test_connection_refused(settings: ModelSettings, sleeps: Sleeps) -> None:
    model = from_spec(parse_spec(f"openai:{closed_port_url()}/v1#m"), settings, sleep=sleeps)
    with model, pytest.raises(ModelUnavailable, match="cannot reach") as info:
        model.complete(request())
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert len(sleeps) == 2


def test_insufficient_quota_is_not_retried(server: TestServer, make: Any) -> None:
    server.add(
        "POST",
        CHAT,
        Reply(
            429,
            {"error": {"message": "You exceeded your current quota", "type": "insufficient_quota"}},
        ),
    )
    with pytest.raises(RateLimited) as info:
        make().complete(request())
    assert not info.value.retryable
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [400, 404, 422])
def test_client_errors_are_bad_requests(server: TestServer, make: Any, status: int) -> None:
    server.add("POST", CHAT, Reply(status, {"detail": "unknown field 'foo'"}))
    with pytest.raises(BadRequest, match="unknown field"):
        make().complete(request())
    assert len(server.requests) == 1


def test_424_is_retried_once(server: TestServer, make: Any) -> None:
    server.add("POST", CHAT, Reply(424, {"error": "Request failed", "error_type": "generation"}))
    with pytest.raises(ModelUnavailable, match="Request failed"):
        make().complete(request())
    assert len(server.requests) == 2


def test_reasoning_fallback_and_estimated_usage(server: TestServer, make: Any) -> None:
    body = chat_body("")
    body["choices"][0]["message"] = {"role": "assistant", "content": None, "reasoning": '{"a": 1}'}
    del body["usage"]
    server.add("POST", CHAT, Reply(200, body))
    completion = make().complete(request())
    assert completion.text == '{"a": 1}'
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.completion_tokens == 3  # estimate of 8 bytes


def test_model_discovery(server: TestServer, make: Any) -> None:
    server.add("GET", "/v1/models", Reply(200, {"object": "list", "data": [{"id": "qwen"}]}))
    server.add("POST", CHAT, Reply(200, chat_body()))
    model = make(model=None)
    model.complete(request())
    model.complete(request())
    assert [b["model"] for b in server.bodies(CHAT)] == ["qwen", "qwen"]
    assert sum(r.path == "/v1/models" for r in server.requests) == 1


def test_model_discovery_with_several_models(server: TestServer, make: Any) -> None:
    server.add("GET", "/v1/models", Reply(200, {"data": [{"id": "a"}, {"id": "b"}]}))
    with pytest.raises(UsageError, match="serves 2 models: a, b") as info:
        make(model=None).complete(request())
    assert "#a" in str(info.value)


def test_api_key(
    server: TestServer, make: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server.add("POST", CHAT, Reply(500, "boom"), Reply(200, chat_body()))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv("PATCHLOOP_API_KEY", "sk-patchloop-secret")
    caplog.set_level(logging.DEBUG)
    model = make()
    model.complete(request())
    assert server.requests[-1].headers["authorization"] == "Bearer sk-patchloop-secret"
    assert "sk-patchloop-secret" not in caplog.text
    assert "sk-patchloop-secret" not in repr(model)
    monkeypatch.delenv("PATCHLOOP_API_KEY")
    monkeypatch.setenv("MY_KEY", "sk-mine")
    make(settings_=ModelSettings(api_key_env="MY_KEY")).complete(request())
    assert server.requests[-1].headers["authorization"] == "Bearer sk-mine"
    # A self-hosted server named by the user never receives the OpenAI key.
    make("vllm").complete(request())
    assert "authorization" not in server.requests[-1].headers


def test_cache_key_goes_to_openai_only(server: TestServer, make: Any) -> None:
    server.add("POST", CHAT, Reply(200, chat_body()))
    req = request().model_copy(update={"cache_key": "run-1"})
    make().complete(req)
    make("vllm").complete(req)
    openai_body, vllm_body = server.bodies(CHAT)
    assert openai_body["prompt_cache_key"] == "run-1"
    assert "prompt_cache_key" not in vllm_body
