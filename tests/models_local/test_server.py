"""The real ``llama_cpp.server`` on 127.0.0.1, driven through the ``llama-cpp-python`` profile."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from patchloop.config import ModelSettings
from patchloop.domain import CompletionRequest, Message, OutputContract, Sampling
from patchloop.edits import ENVELOPE_SCHEMA
from patchloop.models import build_model
from patchloop.models.openai import OpenAIModel
from patchloop.models.tiny import TinyModel
from tests.models_local.conftest import running_server


@pytest.fixture(scope="module")
def server(tiny: TinyModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a running server for the tiny model; stopped by its PID afterwards."""
    with running_server(tiny.model, tmp_path_factory.mktemp("server"), n_ctx=1024) as base:
        yield base


@pytest.fixture
def client(server: str) -> Iterator[OpenAIModel]:
    """The ``llama-cpp-python`` profile of the OpenAI-compatible backend, pointed at the server."""
    model = build_model(f"llama-cpp-python:{server}", ModelSettings(retries=0))
    assert isinstance(model, OpenAIModel)
    with model:
        yield model


def _request(contract: OutputContract | None = None) -> CompletionRequest:
    return CompletionRequest(
        messages=(Message(role="user", content="Fix the bug."),),
        contract=contract,
        sampling=Sampling(temperature=1.0, max_tokens=200, seed=3),
    )


@pytest.mark.slow
def test_plain_request_through_the_openai_backend(client: OpenAIModel) -> None:
    reply = client.complete(_request())
    assert reply.finish_reason in ("stop", "length")
    assert reply.usage.prompt_tokens > 0
    assert 0 < reply.usage.completion_tokens <= 200
    assert reply.model == client.served_models()[0]


@pytest.mark.slow
def test_json_schema_request_through_the_openai_backend(client: OpenAIModel) -> None:
    contract = OutputContract(name="json", json_schema=ENVELOPE_SCHEMA)
    reply = client.complete(_request(contract))
    # The server constrains with its own (lenient) grammar: JSON-shaped, maybe not strict JSON.
    assert reply.text.lstrip().startswith("{")
    assert reply.usage.prompt_tokens > 0
    assert reply.usage.completion_tokens > 0
