"""Fixtures for backend tests: a real local HTTP server, fast settings, recorded sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from patchloop.config import ModelSettings
from patchloop.domain import CompletionRequest, Message, OutputContract, Sampling
from tests.models.httpserver import TestServer

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "integer"}},
    "required": ["answer"],
    "additionalProperties": False,
}


@pytest.fixture(autouse=True)
def _isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Keep the user's capability cache and API keys out of every test.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg")))
    monkeypatch.delenv("PATCHLOOP_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def server() -> Iterator[TestServer]:
    with TestServer() as srv:
        yield srv


class Sleeps(list[float]):
    """Injectable sleep that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def settings() -> ModelSettings:
    return ModelSettings(request_timeout=3.0, retries=2, backoff_s=0.5, max_backoff_s=4.0)


def chat_body(
    text: str = "hello", *, finish: str = "stop", usage: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """An OpenAI chat-completion response body."""
    body: dict[str, Any] = {
        "id": "c1",
        "object": "chat.completion",
        "model": "m1",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
        ],
        "usage": usage or {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
    }
    body.update(extra)
    return body


def request(
    contract: OutputContract | None = None, *, adapter: str | None = None, **sampling: Any
) -> CompletionRequest:
    """A small completion request."""
    return CompletionRequest(
        messages=(
            Message(role="system", content="You fix code."),
            Message(role="user", content="Fix the bug."),
        ),
        contract=contract,
        sampling=Sampling(**sampling),
        adapter=adapter,
    )


JSON_CONTRACT = OutputContract(name="json edits", json_schema=SCHEMA)
GRAMMAR_CONTRACT = OutputContract(
    name="search-replace", grammar='root ::= "<<<" [a-z]+ ">>>"', regex=r"<<<[a-z]+>>>"
)
GBNF_ONLY = OutputContract(name="search-replace", grammar='root ::= "x"')
