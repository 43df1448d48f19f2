"""Servers that report their context window: the prompt budget can leave room for the reply."""

from __future__ import annotations

from patchloop.config import ModelSettings
from patchloop.models import openai as openai_backend
from patchloop.models import parse_spec
from patchloop.models import tgi as tgi_backend
from tests.models.httpserver import Reply, TestServer

MODELS = {"data": [{"id": "m1", "max_model_len": 8192}, {"id": "m2", "max_model_len": 2048}]}


def test_vllm_reports_max_model_len_of_the_named_model(server: TestServer) -> None:
    server.add("GET", "/v1/models", Reply(200, MODELS))
    spec = parse_spec(f"vllm:{server.url}/v1#m2")
    with openai_backend.from_spec(spec, ModelSettings()) as model:
        assert model.context_size == 2048
        assert model.context_size == 2048
    assert sum(r.path == "/v1/models" for r in server.requests) == 1  # asked once


def test_unreported_or_failing_context_size_is_none(server: TestServer) -> None:
    server.add("GET", "/v1/models", Reply(200, {"data": [{"id": "m1"}]}))
    with openai_backend.from_spec(parse_spec(f"openai:{server.url}/v1#m1"), ModelSettings()) as m:
        assert m.context_size is None
    with openai_backend.from_spec(
        parse_spec(f"vllm:{server.url}/nowhere/v1#m1"), ModelSettings(retries=0)
    ) as m:
        assert m.context_size is None  # 404: unknown, not an error


def test_tgi_reports_max_total_tokens(server: TestServer) -> None:
    server.add("GET", "/info", Reply(200, {"model_id": "x", "max_total_tokens": 4096}))
    with tgi_backend.from_spec(parse_spec(f"tgi:{server.url}"), ModelSettings()) as model:
        assert model.context_size == 4096
