"""The ``tgi`` backend (native ``/generate``) against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from patchloop.config import ModelSettings
from patchloop.errors import (
    AuthError,
    BadOutput,
    ContextTooLong,
    ModelTimeout,
    ModelUnavailable,
    RateLimited,
)
from patchloop.models import parse_spec, validate_json_output
from patchloop.models._render import render_plain
from patchloop.models.tgi import TGIModel, from_spec
from tests.models.conftest import (
    GBNF_ONLY,
    GRAMMAR_CONTRACT,
    JSON_CONTRACT,
    SCHEMA,
    Sleeps,
    request,
)
from tests.models.httpserver import Reply, TestServer, closed_port_url


def generated(
    text: str = "hello", finish: str = "eos_token", tokens: int = 4, **details: Any
) -> dict[str, Any]:
    """A TGI ``/generate`` response body."""
    return {
        "generated_text": text,
        "details": {
            "finish_reason": finish,
            "generated_tokens": tokens,
            "seed": None,
            "prefill": [],
            "tokens": [],
            **details,
        },
    }


TEMPLATED = {
    "tokenize_response": [{"id": i, "text": "t", "start": 0, "stop": 1} for i in range(17)],
    "templated_text": "<|im_start|>system\nYou fix code.<|im_end|>\n<|im_start|>assistant\n",
}


@pytest.fixture
def make(server: TestServer, settings: ModelSettings, sleeps: Sleeps) -> Iterator[Any]:
    built: list[TGIModel] = []

    def _make(settings_: ModelSettings | None = None, model: str = "") -> TGIModel:
        spec = parse_spec(f"tgi:{server.url}" + (f"#{model}" if model else ""))
        backend = from_spec(spec, settings_ or settings, sleep=sleeps)
        built.append(backend)
        return backend

    yield _make
    for backend in built:
        backend.close()


def test_success_with_chat_template(server: TestServer, make: Any) -> None:
    server.add("POST", "/chat_tokenize", Reply(200, TEMPLATED))
    server.add("POST", "/generate", Reply(200, generated("the fix", tokens=5)))
    completion = make(model="bigcode/starcoder2").complete(
        request(temperature=0.5, max_tokens=77, seed=3, stop=("</s>",))
    )
    assert completion.text == "the fix"
    assert completion.finish_reason == "stop"
    assert completion.usage.prompt_tokens == 17  # from /chat_tokenize
    assert completion.usage.completion_tokens == 5
    assert completion.model == "bigcode/starcoder2"
    assert completion.latency_s > 0
    (tokenize,) = server.bodies("/chat_tokenize")
    assert tokenize["messages"][1] == {"role": "user", "content": "Fix the bug."}
    (body,) = server.bodies("/generate")
    assert body == {
        "inputs": TEMPLATED["templated_text"],
        "parameters": {
            "max_new_tokens": 77,
            "details": True,
            "return_full_text": False,
            "temperature": 0.5,
            "do_sample": True,
            "seed": 3,
            "stop": ["</s>"],
        },
    }


def test_without_chat_tokenize_falls_back_once(server: TestServer, make: Any) -> None:
    server.add("POST", "/generate", Reply(200, [generated("a")]))  # a list, as some versions
    model = make()
    model.complete(request())
    model.complete(request())
    assert sum(r.path == "/chat_tokenize" for r in server.requests) == 1
    assert model.chat_template is False
    bodies = server.bodies("/generate")
    assert [b["inputs"] for b in bodies] == [render_plain(request().messages)] * 2


def test_greedy_grammar_and_adapter(server: TestServer, make: Any) -> None:
    server.add("POST", "/generate", Reply(200, generated('{"answer": 1}')))
    model = make()
    model.complete(request(JSON_CONTRACT, adapter="fix-lora", temperature=0.0))
    model.complete(request(GRAMMAR_CONTRACT))
    model.complete(request(GBNF_ONLY))
    json_params, regex_params, gbnf_params = (b["parameters"] for b in server.bodies("/generate"))
    assert json_params["grammar"] == {"type": "json", "value": SCHEMA}
    assert json_params["adapter_id"] == "fix-lora"
    assert json_params["do_sample"] is False
    assert "temperature" not in json_params
    assert regex_params["grammar"] == {"type": "regex", "value": r"<<<[a-z]+>>>"}
    assert "grammar" not in gbnf_params  # TGI takes no GBNF
    assert "adapter_id" not in regex_params


@pytest.mark.parametrize(
    ("finish", "expected"), [("length", "length"), ("eos_token", "stop"), ("stop_sequence", "stop")]
)
def test_finish_reasons(server: TestServer, make: Any, finish: str, expected: str) -> None:
    server.add("POST", "/generate", Reply(200, generated(finish=finish)))
    assert make().complete(request()).finish_reason == expected


def test_prefill_and_old_shape(server: TestServer, make: Any) -> None:
    server.add(
        "POST",
        "/generate",
        Reply(200, generated(prefill=[{"id": 1, "text": "a"}, {"id": 2, "text": "b"}])),
        Reply(200, {"generated_text": "bare"}),
    )
    model = make()
    assert model.complete(request()).usage.prompt_tokens == 2
    bare = model.complete(request())
    assert bare.text == "bare"
    assert bare.finish_reason == "stop"
    assert bare.usage.completion_tokens == 2  # estimated from 4 bytes


def test_429_overloaded_then_success(server: TestServer, make: Any, sleeps: Sleeps) -> None:
    server.add(
        "POST",
        "/generate",
        Reply(
            429,
            {"error": "Model is overloaded", "error_type": "overloaded"},
            headers={"Retry-After": "1.5"},
        ),
        Reply(200, generated("ok")),
    )
    model = make()
    assert model.complete(request()).text == "ok"
    assert sleeps == [1.5]
    assert model.retries == 1


def test_429_without_retry_after_uses_backoff(
    server: TestServer, make: Any, sleeps: Sleeps
) -> None:
    server.add("POST", "/generate", Reply(429, {"error": "overloaded", "error_type": "overloaded"}))
    with pytest.raises(RateLimited):
        make().complete(request())
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5


def test_500_then_success(server: TestServer, make: Any, sleeps: Sleeps) -> None:
    server.add(
        "POST",
        "/generate",
        Reply(500, {"error": "CUDA OOM", "error_type": "generation"}),
        Reply(200, generated("ok")),
    )
    assert make().complete(request()).text == "ok"
    assert len(sleeps) == 1


def test_persistent_500(server: TestServer, make: Any) -> None:
    server.add("POST", "/generate", Reply(500, {"error": "CUDA OOM", "error_type": "generation"}))
    with pytest.raises(ModelUnavailable, match="CUDA OOM"):
        make().complete(request())
    assert sum(r.path == "/generate" for r in server.requests) == 3


def test_read_timeout(server: TestServer, make: Any) -> None:
    server.add("POST", "/generate", Reply(200, generated(), delay_s=5))
    with pytest.raises(ModelTimeout) as info:
        make(ModelSettings(request_timeout=0.3, retries=0)).complete(request())
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


@pytest.mark.parametrize(
    "body",
    [b'{"generated_text": "abc', b"not json at all", {"details": {}}, []],
    ids=["truncated", "text", "no-text", "empty-list"],
)
def test_malformed_200(server: TestServer, make: Any, body: Any) -> None:
    server.add("POST", "/generate", Reply(200, body))
    with pytest.raises(BadOutput):
        make().complete(request())
    assert sum(r.path == "/generate" for r in server.requests) == 1


def test_reply_that_ignores_the_grammar(server: TestServer, make: Any) -> None:
    server.add("POST", "/generate", Reply(200, generated("I think the answer is 42.")))
    completion = make().complete(request(JSON_CONTRACT))
    assert completion.text == "I think the answer is 42."
    with pytest.raises(BadOutput):
        validate_json_output(completion.text, SCHEMA)


def test_context_overflow(server: TestServer, make: Any) -> None:
    message = (
        "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. "
        "Given: 4000 `inputs` tokens and 512 `max_new_tokens`"
    )
    server.add("POST", "/generate", Reply(422, {"error": message, "error_type": "validation"}))
    with pytest.raises(ContextTooLong, match="must be <= 4096"):
        make().complete(request())
    assert sum(r.path == "/generate" for r in server.requests) == 1


def test_401(server: TestServer, make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATCHLOOP_API_KEY", "hf_secret")
    server.add("POST", "/generate", Reply(401, "Unauthorized"))
    with pytest.raises(AuthError, match="PATCHLOOP_API_KEY"):
        make().complete(request())
    assert server.requests[-1].headers["authorization"] == "Bearer hf_secret"


def test_connection_refused(settings: ModelSettings, sleeps: Sleeps) -> None:
    with (
        from_spec(parse_spec(f"tgi:{closed_port_url()}"), settings, sleep=sleeps) as model,
        pytest.raises(ModelUnavailable),
    ):
        model.complete(request())
    assert len(sleeps) == 2


def test_health_and_info(server: TestServer, make: Any) -> None:
    server.add("GET", "/health", Reply(200, b""))
    server.add("GET", "/info", Reply(200, {"model_id": "bigcode/starcoder2-3b"}))
    model = make()
    assert model.health() == "ok"
    assert model.served_models() == ["bigcode/starcoder2-3b"]
    assert model.capabilities.constrained_output
    assert model.capabilities.adapters
    assert not model.capabilities.reports_cached_tokens
