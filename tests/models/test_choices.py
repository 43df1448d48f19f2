"""Several samples of one prompt against a real HTTP server: ``n`` choices where the server
answers them, one request each elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from patchloop.config import ModelSettings
from patchloop.domain import Sampling
from patchloop.models import parse_spec
from patchloop.models.openai import OpenAIModel, from_spec
from patchloop.protocols import BatchSampler
from tests.models.conftest import Sleeps, chat_body, request
from tests.models.httpserver import Recorded, Reply, TestServer

CHAT = "/v1/chat/completions"


@pytest.fixture
def make(server: TestServer, settings: ModelSettings, sleeps: Sleeps) -> Iterator[Any]:
    built: list[OpenAIModel] = []

    def _make(kind: str) -> OpenAIModel:
        backend = from_spec(parse_spec(f"{kind}:{server.url}/v1#m1"), settings, sleep=sleeps)
        built.append(backend)
        return backend

    yield _make
    for backend in built:
        backend.close()


def choices(rec: Recorded) -> Reply:
    """As many choices as asked, each saying its index and the request's temperature."""
    body = rec.json()
    n = body.get("n", 1)
    reply = chat_body("x", usage={"prompt_tokens": 100, "completion_tokens": 10 * n})
    reply["choices"] = [
        {
            "index": k,
            "message": {"role": "assistant", "content": f"t={body['temperature']} k={k}"},
            "finish_reason": "stop",
        }
        for k in range(n)
    ]
    return Reply(200, reply)


SAMPLINGS = [
    Sampling(temperature=0.0, max_tokens=50),
    Sampling(temperature=0.6, max_tokens=50, seed=1001),
    Sampling(temperature=0.8, max_tokens=50, seed=1002),
    Sampling(temperature=0.6, max_tokens=50, seed=1003),
]


def test_samples_that_differ_only_in_seed_share_a_request(server: TestServer, make: Any) -> None:
    server.handle("POST", CHAT, choices)
    model = make("vllm")
    assert isinstance(model, BatchSampler)
    out = model.complete_many(request(), SAMPLINGS)
    assert [c.text for c in out] == ["t=0.0 k=0", "t=0.6 k=0", "t=0.8 k=0", "t=0.6 k=1"]
    bodies = server.bodies(CHAT)
    assert [(b["temperature"], b.get("n")) for b in bodies] == [(0.0, None), (0.6, 2), (0.8, None)]
    # The shared prompt counts once; the completion tokens are shared out among the choices.
    assert [c.usage.prompt_tokens for c in out] == [100, 100, 100, 0]
    assert out[1].usage.completion_tokens + out[3].usage.completion_tokens == 20


def test_a_server_that_ignores_n_is_asked_for_the_rest(server: TestServer, make: Any) -> None:
    server.add("POST", CHAT, Reply(200, chat_body("one choice only")))
    out = make("openai").complete_many(request(), SAMPLINGS)
    assert len(out) == 4
    assert all(c.text == "one choice only" for c in out)
    bodies = server.bodies(CHAT)
    # The 0.6 group asked for two and got one: its second sample was asked alone.
    assert [(b["temperature"], b.get("n")) for b in bodies] == [
        (0.0, None),
        (0.6, 2),
        (0.6, None),
        (0.8, None),
    ]
    assert bodies[2]["seed"] == 1003


@pytest.mark.parametrize("kind", ["llama-server", "llama-cpp-python", "ollama"])
def test_servers_without_choices_get_one_request_per_sample(
    server: TestServer, make: Any, kind: str
) -> None:
    server.handle("POST", CHAT, choices)
    out = make(kind).complete_many(request(), SAMPLINGS)
    assert [c.text for c in out] == ["t=0.0 k=0", "t=0.6 k=0", "t=0.8 k=0", "t=0.6 k=0"]
    assert all("n" not in b for b in server.bodies(CHAT))
    assert [b.get("seed") for b in server.bodies(CHAT)] == [None, 1001, 1002, 1003]
