"""Each server profile's request shape, cached-token parsing and adapter placement, as seen by
a real HTTP server that validates requests like the real server of that profile."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from patchloop.config import ModelSettings
from patchloop.domain import OutputContract
from patchloop.errors import BadRequest
from patchloop.models import parse_spec
from patchloop.models.openai import OpenAIModel, from_spec
from tests.models.conftest import (
    GBNF_ONLY,
    GRAMMAR_CONTRACT,
    JSON_CONTRACT,
    SCHEMA,
    chat_body,
    request,
)
from tests.models.httpserver import Reply, TestServer
from tests.models.server_shapes import REQUEST_SCHEMAS, problems, validating

CHAT = "/v1/chat/completions"
STRICT_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "json_edits", "strict": True, "schema": SCHEMA},
}
LOOSE_FORMAT = {"type": "json_schema", "json_schema": {"name": "json_edits", "schema": SCHEMA}}
REGEX = r"<<<[a-z]+>>>"
GBNF = 'root ::= "<<<" [a-z]+ ">>>"'
SHAPE_KEYS = ("response_format", "structured_outputs", "regex", "ebnf", "grammar", "json_schema")


@pytest.fixture
def sent(server: TestServer) -> Iterator[Any]:
    """Send one request through a profile to a server validating that profile's shape (400
    on a mismatch) and return the JSON body the server received."""
    models: list[OpenAIModel] = []

    def _sent(kind: str, contract: OutputContract | None = None, **kw: Any) -> dict[str, Any]:
        server.handle("POST", CHAT, validating(REQUEST_SCHEMAS[kind], Reply(200, chat_body())))
        model = from_spec(
            parse_spec(f"{kind}:{server.url}/v1#m1"), kw.pop("settings", ModelSettings())
        )
        models.append(model)
        model.complete(request(contract, **kw))
        body: dict[str, Any] = server.bodies(CHAT)[-1]
        return body

    yield _sent
    for model in models:
        model.close()


def _shape(body: dict[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in SHAPE_KEYS if k in body}


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("openai", {"response_format": STRICT_FORMAT}),
        ("vllm", {"structured_outputs": {"json": SCHEMA}}),
        ("sglang", {"response_format": STRICT_FORMAT}),
        ("llama-server", {"response_format": LOOSE_FORMAT}),
        ("llama-cpp-python", {"response_format": {"type": "json_object", "schema": SCHEMA}}),
        ("ollama", {"response_format": LOOSE_FORMAT}),
    ],
)
def test_json_schema_shape(sent: Any, kind: str, expected: dict[str, Any]) -> None:
    assert _shape(sent(kind, JSON_CONTRACT)) == expected


@pytest.mark.parametrize(
    ("kind", "expected", "gbnf_only"),
    [
        ("openai", {}, {}),
        (
            "vllm",
            {"structured_outputs": {"regex": REGEX}},
            {"structured_outputs": {"grammar": 'root ::= "x"'}},
        ),
        ("sglang", {"regex": REGEX}, {"ebnf": 'root ::= "x"'}),
        ("llama-server", {"grammar": GBNF}, {"grammar": 'root ::= "x"'}),
        ("llama-cpp-python", {"grammar": GBNF}, {"grammar": 'root ::= "x"'}),
        ("ollama", {}, {}),
    ],
)
def test_grammar_and_regex_shape(
    sent: Any, kind: str, expected: dict[str, Any], gbnf_only: dict[str, Any]
) -> None:
    assert _shape(sent(kind, GRAMMAR_CONTRACT)) == expected
    assert _shape(sent(kind, GBNF_ONLY)) == gbnf_only


def test_no_contract_sends_no_shape(sent: Any) -> None:
    for kind in ("openai", "vllm", "sglang", "llama-server", "llama-cpp-python", "ollama"):
        assert _shape(sent(kind)) == {}


def test_vllm_token_limit_and_thinking(sent: Any) -> None:
    body = sent("vllm", JSON_CONTRACT, max_tokens=64)
    assert body["max_completion_tokens"] == 64
    assert "max_tokens" not in body
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert "chat_template_kwargs" not in sent("vllm")
    assert sent("openai", max_tokens=64)["max_tokens"] == 64


@pytest.mark.parametrize(
    ("kind", "adapter", "model", "lora"),
    [
        ("vllm", "fix", "fix", None),
        ("sglang", "fix", "m1:fix", None),
        ("llama-server", "0", "m1", [{"id": 0, "scale": 1.0}]),
        ("llama-server", "fix", "m1", None),
        ("openai", "fix", "m1", None),
        ("ollama", "fix", "m1", None),
        ("llama-cpp-python", "fix", "m1", None),
    ],
)
def test_adapter_placement(
    sent: Any, kind: str, adapter: str, model: str, lora: list[dict[str, Any]] | None
) -> None:
    body = sent(kind, adapter=adapter)
    assert body["model"] == model
    assert body.get("lora") == lora
    assert "adapter_id" not in body


def test_adapter_from_settings(sent: Any) -> None:
    assert sent("vllm", settings=ModelSettings(adapter="team-lora"))["model"] == "team-lora"


@pytest.mark.parametrize(
    ("kind", "extra", "cached"),
    [
        (
            "openai",
            {
                "usage": {
                    "prompt_tokens": 20,
                    "completion_tokens": 1,
                    "prompt_tokens_details": {"cached_tokens": 16},
                }
            },
            16,
        ),
        (
            "vllm",
            {
                "usage": {
                    "prompt_tokens": 20,
                    "completion_tokens": 1,
                    "prompt_tokens_details": {"cached_tokens": 12},
                }
            },
            12,
        ),
        ("sglang", {"meta_info": {"cached_tokens": 9}}, 9),
        ("llama-server", {"timings": {"cache_n": 30, "prompt_n": 4}}, 30),
        ("llama-server", {"tokens_cached": 31}, 31),
        ("llama-cpp-python", {"timings": {"cache_n": 30}}, 0),
        ("ollama", {}, 0),
    ],
)
def test_cached_tokens(server: TestServer, kind: str, extra: dict[str, Any], cached: int) -> None:
    body = chat_body()
    body.update(extra)
    server.add("POST", CHAT, Reply(200, body))
    with from_spec(parse_spec(f"{kind}:{server.url}/v1#m1"), ModelSettings()) as model:
        assert model.complete(request()).usage.cached_tokens == cached


@pytest.mark.parametrize(
    ("kind", "grammar", "adapters", "cached"),
    [
        ("openai", False, False, True),
        ("vllm", True, True, True),
        ("sglang", True, True, True),
        ("llama-server", True, False, True),
        ("llama-cpp-python", True, False, False),
        ("ollama", False, False, False),
    ],
)
def test_capabilities(kind: str, grammar: bool, adapters: bool, cached: bool) -> None:
    with from_spec(parse_spec(f"{kind}:http://127.0.0.1:9/v1#m"), ModelSettings()) as model:
        caps = model.capabilities
    assert caps.constrained_output
    assert (caps.grammar, caps.adapters, caps.reports_cached_tokens) == (grammar, adapters, cached)


KINDS = tuple(REQUEST_SCHEMAS)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("contract", [None, JSON_CONTRACT, GRAMMAR_CONTRACT, GBNF_ONLY])
def test_each_profile_passes_its_server_validator(
    sent: Any, kind: str, contract: OutputContract | None
) -> None:
    body = sent(kind, contract, max_tokens=32, seed=1, stop=["</s>"])
    assert problems(REQUEST_SCHEMAS[kind], body) == []


def _base() -> dict[str, Any]:
    return {"model": "m1", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}


def _loose(schema: dict[str, Any] = SCHEMA) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"schema": schema}}


WRONG_SHAPES = [
    ("openai", {"response_format": {"type": "json_schema", "json_schema": {"schema": SCHEMA}}}),
    ("openai", {"response_format": {"type": "json_schema", "schema": SCHEMA}}),
    ("openai", {"grammar": GBNF}),
    ("openai", {"structured_outputs": {"json": SCHEMA}}),
    ("vllm", {"guided_json": SCHEMA}),
    ("vllm", {"guided_regex": REGEX}),
    ("vllm", {"structured_outputs": {"json_schema": SCHEMA}}),
    ("vllm", {"structured_outputs": {"json": SCHEMA, "regex": REGEX}}),
    ("sglang", {"regex": REGEX, "ebnf": GBNF}),
    ("sglang", {"json_schema": SCHEMA}),
    ("sglang", {"grammar": GBNF}),
    ("llama-server", {"response_format": {"type": "json_schema", "schema": SCHEMA}}),
    ("llama-server", {"grammar": GBNF, "json_schema": SCHEMA}),
    ("llama-server", {"regex": REGEX}),
    ("llama-cpp-python", {"response_format": STRICT_FORMAT}),
    ("llama-cpp-python", {"response_format": {"type": "json_object"}}),
    ("ollama", {"grammar": GBNF}),
    ("ollama", {"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}),
    ("ollama", {"structured_outputs": {"json": SCHEMA}}),
]


@pytest.mark.parametrize(("kind", "fields"), WRONG_SHAPES)
def test_wrong_shape_gets_400(server: TestServer, kind: str, fields: dict[str, Any]) -> None:
    server.handle("POST", CHAT, validating(REQUEST_SCHEMAS[kind], Reply(200, chat_body())))
    right = httpx.post(server.url + CHAT, json=_base(), timeout=5)
    assert right.status_code == 200
    wrong = httpx.post(server.url + CHAT, json={**_base(), **fields}, timeout=5)
    assert wrong.status_code == 400
    assert "invalid request" in wrong.json()["error"]["message"]


@pytest.mark.parametrize(
    ("client", "server_kind"),
    [
        ("vllm", "openai"),
        ("openai", "llama-cpp-python"),
        ("llama-cpp-python", "llama-server"),
        ("sglang", "ollama"),
    ],
)
def test_a_profile_spoken_to_the_wrong_server_is_rejected(
    server: TestServer, client: str, server_kind: str
) -> None:
    server.handle("POST", CHAT, validating(REQUEST_SCHEMAS[server_kind], Reply(200, chat_body())))
    model = from_spec(parse_spec(f"{client}:{server.url}/v1#m1"), ModelSettings())
    with model, pytest.raises(BadRequest, match="invalid request"):
        model.complete(request(JSON_CONTRACT))
