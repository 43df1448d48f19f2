"""The hard cap on generated tokens holds, also when tokens end in partial UTF-8 sequences."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from patchloop.domain import CompletionRequest, Message, Sampling
from patchloop.edits import get_format
from patchloop.models.llamacpp import LlamaCppModel
from patchloop.models.tiny import build_tiny_model


def _ask(max_tokens: int, seed: int) -> CompletionRequest:
    return CompletionRequest(
        messages=(Message(role="user", content="def total(items):"),),
        sampling=Sampling(temperature=1.0, max_tokens=max_tokens, seed=seed),
    )


@pytest.fixture(scope="module")
def byte_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppModel]:
    """A model whose vocabulary has all 256 byte tokens and no bias: it emits broken UTF-8."""
    built = build_tiny_model(
        Path(tmp_path_factory.mktemp("bytes")), ascii_only=False, closer_bias=0.0, adapters=0
    )
    with LlamaCppModel(built.model, n_ctx=1024) as loaded:
        yield loaded


@pytest.mark.parametrize("cap", [1, 2, 7, 40])
def test_completion_never_exceeds_the_cap(model: LlamaCppModel, cap: int) -> None:
    for seed in range(5):
        reply = model.complete(_ask(cap, seed))
        assert reply.usage.completion_tokens <= cap
        if reply.finish_reason == "length":
            assert reply.usage.completion_tokens == cap


def test_cap_holds_on_partial_utf8(byte_model: LlamaCppModel) -> None:
    replies = [byte_model.complete(_ask(1, seed)) for seed in range(60)]
    assert all(r.usage.completion_tokens <= 1 for r in replies)
    # Some of those single tokens were a lone UTF-8 lead byte: no text, yet still one token.
    assert any(r.text == "" and r.usage.completion_tokens == 1 for r in replies)


def test_cap_holds_under_a_grammar(model: LlamaCppModel) -> None:
    contract = get_format("search-replace").contract()
    request = _ask(6, 0).model_copy(update={"contract": contract})
    reply = model.complete(request)
    assert reply.usage.completion_tokens == 6
    assert reply.finish_reason == "length"
