"""Samples of one prompt decoded together: one prefill, KV cells shared (tiny model)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from patchloop.domain import CompletionRequest, EditScope, Message, Sampling, ScopeFile
from patchloop.edits import get_format
from patchloop.models.llamacpp import LlamaCppModel
from patchloop.models.tiny import TinyModel
from patchloop.protocols import BatchSampler
from tests.edits.gbnf_regex import gbnf_to_regex

PROMPT = "Fix the bug in calc.py. " * 20


def ask(max_tokens: int = 24) -> CompletionRequest:
    return CompletionRequest(
        messages=(Message(role="user", content=PROMPT),),
        sampling=Sampling(max_tokens=max_tokens),
    )


def samplings(n: int) -> list[Sampling]:
    first = Sampling(max_tokens=24, temperature=0.0)
    return [first] + [Sampling(max_tokens=24, temperature=1.0, seed=k) for k in range(1, n)]


@pytest.fixture
def model(tiny: TinyModel, tmp_path: Path) -> LlamaCppModel:
    return LlamaCppModel(tiny.model, n_ctx=2048, seed=0)


def test_the_prompt_is_evaluated_once_for_all_samples(model: LlamaCppModel) -> None:
    assert isinstance(model, BatchSampler)
    before = model.evaluated_tokens
    replies = model.complete_many(ask(), samplings(4))
    evaluated = model.evaluated_tokens - before
    assert len(replies) == 4
    first = replies[0].usage
    assert first.cached_tokens == 0
    assert evaluated == first.prompt_tokens  # not four times the prompt
    for reply in replies[1:]:
        assert reply.usage.cached_tokens == reply.usage.prompt_tokens == first.prompt_tokens
        assert reply.usage.completion_tokens > 0
    assert len({r.text for r in replies}) > 1  # hot samples with their own seeds differ
    model.close()


def test_the_greedy_sample_is_what_a_single_call_gives(tiny: TinyModel) -> None:
    with LlamaCppModel(tiny.model, n_ctx=2048, seed=0) as alone:
        single = alone.complete(ask()).text
    with LlamaCppModel(tiny.model, n_ctx=2048, seed=0) as batched:
        together = batched.complete_many(ask(), samplings(3))[0].text
        # The context keeps the prompt and the first sample: the next call reuses them.
        again = batched.complete(ask())
        assert again.usage.cached_tokens >= again.usage.prompt_tokens - 1
    assert together == single


def test_every_sample_keeps_to_the_contract(model: LlamaCppModel) -> None:
    source = "def clamp(value, low, high):\n    if value > high:\n        return low\n"
    scope = EditScope(files=(ScopeFile(path="calc.py", text=source),), max_edits=2)
    contract = get_format("search-replace").contract(scope)
    assert contract is not None
    assert contract.grammar is not None
    pattern = re.compile(gbnf_to_regex(contract.grammar), re.DOTALL)
    request = ask(300).model_copy(update={"contract": contract})
    hot = [Sampling(max_tokens=300, temperature=1.0, seed=k) for k in range(4)]
    for reply in model.complete_many(request, hot):
        if reply.finish_reason == "stop":
            assert pattern.fullmatch(reply.text), reply.text
        else:
            assert reply.text.startswith("calc.py\n")
    model.close()
