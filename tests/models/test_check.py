"""``models check`` against real local servers: one that enforces the schema, one that
ignores it, one that is down; the capability cache round trip."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from patchloop.config import ModelSettings
from patchloop.models import build_model, load_capabilities
from patchloop.models.capcache import capabilities_path
from patchloop.models.check import check_model, describe_check
from patchloop.models.openai import OpenAIModel
from tests.models.conftest import chat_body
from tests.models.httpserver import Recorded, Reply, TestServer, closed_port_url

CHAT = "/v1/chat/completions"
SETTINGS = ModelSettings(request_timeout=3.0, retries=0)


def instance(schema: dict[str, Any]) -> Any:
    """A minimal value satisfying the small schemas the probes use."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {k: instance(v) for k, v in schema.get("properties", {}).items()}
    return {"boolean": True, "integer": 1, "number": 1.0, "string": "x"}.get(str(kind))


def _built(spec: str, settings: ModelSettings | None = None, **kw: Any) -> OpenAIModel:
    model = build_model(spec, settings, **kw)
    assert isinstance(model, OpenAIModel)
    return model


def requested_schema(body: dict[str, Any]) -> Any:
    """The JSON schema a request constrains to, in any of the profiles' shapes."""
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return fmt["json_schema"]["schema"]
    if fmt.get("type") == "json_object":
        return fmt.get("schema")
    return (body.get("structured_outputs") or {}).get("json")


class FakeEngine:
    """Answers like a server: enforcing the schema or not, with a prefix cache or not."""

    def __init__(self, *, enforce: bool, cache: bool) -> None:
        self.enforce, self.cache = enforce, cache
        self.seen: set[str] = set()

    def __call__(self, req: Recorded) -> Reply:
        body = req.json()
        key = json.dumps(body["messages"])
        usage: dict[str, Any] = {"prompt_tokens": 500, "completion_tokens": 9}
        if self.cache:
            usage["prompt_tokens_details"] = {"cached_tokens": 496 if key in self.seen else 0}
        self.seen.add(key)
        schema = requested_schema(body)
        if self.enforce and schema is not None:
            text = json.dumps(instance(schema))
        else:
            text = "The sea is vast and blue."
        return Reply(200, chat_body(text, usage=usage))


def _serve(server: TestServer, engine: FakeEngine, models: list[str]) -> None:
    server.handle("POST", CHAT, engine)
    server.add("GET", "/v1/models", Reply(200, {"data": [{"id": m} for m in models]}))
    server.add("GET", "/health", Reply(200, b""))


def test_enforcing_server(server: TestServer, tmp_path: Path) -> None:
    _serve(server, FakeEngine(enforce=True, cache=True), ["qwen"])
    cache = tmp_path / "caps.json"
    spec = f"vllm:{server.url}/v1"
    result = check_model(spec, SETTINGS, cache_path=cache)
    assert result.reachable
    assert result.health == "ok"
    assert result.served_models == ("qwen",)
    assert result.model == "qwen"
    assert result.constrained_output is True
    assert (result.probes_sent, result.probes_valid) == (3, 3)
    assert result.reports_cached_tokens is True
    assert result.cached_tokens == 496
    assert result.latency_s is not None
    assert result.ok
    assert result.capabilities.constrained_output
    assert result.capabilities.grammar
    probes = [b for b in server.bodies(CHAT) if "structured_outputs" in b]
    assert len(probes) == 3
    assert all(b["structured_outputs"]["json"]["required"] == ["colour", "sure"] for b in probes)
    assert load_capabilities(spec, cache) == result


def test_ignoring_server(server: TestServer, tmp_path: Path) -> None:
    _serve(server, FakeEngine(enforce=False, cache=False), ["m"])
    spec = f"openai:{server.url}/v1#m"
    result = check_model(spec, SETTINGS)  # default cache path under XDG_CACHE_HOME
    assert result.reachable
    assert result.constrained_output is False
    assert result.probes_valid == 0
    assert len(result.probe_failures) == 3
    assert "not valid JSON" in result.probe_failures[0]
    assert result.reports_cached_tokens is False
    assert not result.capabilities.constrained_output
    assert capabilities_path().is_file()
    # Later runs build the backend with what was measured.
    with closing(_built(spec, SETTINGS)) as model:
        assert not model.capabilities.constrained_output
        assert not model.capabilities.reports_cached_tokens
    with closing(_built(spec, SETTINGS, use_recorded=False)) as model:
        assert model.capabilities.constrained_output


def test_server_without_health_route_uses_model_list(server: TestServer, tmp_path: Path) -> None:
    server.handle("POST", CHAT, FakeEngine(enforce=True, cache=False))
    server.add("GET", "/v1/models", Reply(200, {"data": [{"id": "m"}]}))
    result = check_model(f"sglang:{server.url}/v1#m", SETTINGS, cache_path=tmp_path / "c.json")
    assert result.reachable
    assert result.health.startswith("no health route")
    assert result.errors == ()
    assert result.constrained_output is True


def test_several_served_models_without_a_name(server: TestServer, tmp_path: Path) -> None:
    _serve(server, FakeEngine(enforce=True, cache=False), ["a", "b"])
    result = check_model(f"vllm:{server.url}/v1", SETTINGS, cache_path=tmp_path / "c.json")
    assert result.reachable
    assert result.served_models == ("a", "b")
    assert result.constrained_output is None
    assert any("serves 2 models" in e for e in result.errors)


def test_unreachable_server(tmp_path: Path) -> None:
    cache = tmp_path / "c.json"
    spec = f"ollama:{closed_port_url()}/v1#m"
    result = check_model(spec, SETTINGS, cache_path=cache)
    assert not result.reachable
    assert result.constrained_output is None
    assert result.errors
    assert not result.ok
    recorded = load_capabilities(spec, cache)
    assert recorded is not None
    assert not recorded.reachable
    # An unreachable check is not used to override capabilities.
    with closing(_built(spec, capabilities_file=cache)) as model:
        assert model.capabilities.constrained_output


def test_tgi_check(server: TestServer, tmp_path: Path) -> None:
    def generate(req: Recorded) -> Reply:
        grammar = req.json()["parameters"].get("grammar")
        text = json.dumps(instance(grammar["value"])) if grammar else "words"
        return Reply(200, {"generated_text": text, "details": {"finish_reason": "eos_token"}})

    server.handle("POST", "/generate", generate)
    server.add("GET", "/health", Reply(200, b""))
    server.add("GET", "/info", Reply(200, {"model_id": "starcoder"}))
    result = check_model(f"tgi:{server.url}", SETTINGS, cache_path=tmp_path / "c.json")
    assert result.served_models == ("starcoder",)
    assert result.constrained_output is True
    assert result.reports_cached_tokens is False


def test_scripted_is_trivial(tmp_path: Path) -> None:
    replies = tmp_path / "r.jsonl"
    replies.write_text('"a"\n"b"\n')
    result = check_model(f"scripted:{replies}", cache_path=tmp_path / "c.json")
    assert result.reachable
    assert result.constrained_output is False
    assert "2 scripted replies" in result.health
    missing = check_model(f"scripted:{tmp_path}/none.jsonl", record=False)
    assert not missing.reachable
    assert missing.errors


def test_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    cache = tmp_path / "c.json"
    cache.write_text("{not json")
    assert load_capabilities("openai:http://h/v1#m", cache) is None
    replies = tmp_path / "r.jsonl"
    replies.write_text('"a"\n')
    check_model(f"scripted:{replies}", cache_path=cache)
    assert load_capabilities(f"scripted:{replies}", cache) is not None


@pytest.mark.parametrize("probes", [1, 4])
def test_probe_count(server: TestServer, tmp_path: Path, probes: int) -> None:
    _serve(server, FakeEngine(enforce=True, cache=False), ["m"])
    result = check_model(
        f"openai:{server.url}/v1#m", SETTINGS, probes=probes, cache_path=tmp_path / "c.json"
    )
    assert result.probes_sent == probes


def test_small_context_server_gets_the_short_cache_prompt(
    server: TestServer, tmp_path: Path
) -> None:
    engine = FakeEngine(enforce=True, cache=True)

    def small(req: Recorded) -> Reply:
        if len(req.body) > 3000:
            return Reply(
                400, {"error": {"type": "exceed_context_size_error", "message": "too big"}}
            )
        return engine(req)

    server.handle("POST", CHAT, small)
    server.add("GET", "/v1/models", Reply(200, {"data": [{"id": "m"}]}))
    result = check_model(f"llama-server:{server.url}/v1#m", SETTINGS, cache_path=tmp_path / "c")
    assert result.reports_cached_tokens is True
    assert result.errors == ()
    text = describe_check(result)
    assert "constrained JSON yes (3/3 probes valid)" in text
    assert "cached tokens    yes (496 on a repeated prompt)" in text
