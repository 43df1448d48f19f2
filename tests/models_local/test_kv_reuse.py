"""Prompt reuse: the second iteration of a loop evaluates only the new tail (tokens counted)."""

from __future__ import annotations

import pytest

from patchloop.domain import CompletionRequest, Message, Sampling
from patchloop.models.llamacpp import LlamaCppModel
from patchloop.models.tiny import TinyModel

PREFIX = "\n".join(f"def helper_{i}(value):\n    return value * {i} + {i % 7}\n" for i in range(60))


def _task(feedback: str) -> str:
    return f"Task: fix helper_3.\nFeedback: {feedback}"


def _iteration(feedback: str, *, adapter: str | None = None) -> CompletionRequest:
    return CompletionRequest(
        messages=(
            Message(role="system", content="You fix Python code. Repository:\n" + PREFIX),
            Message(role="user", content=_task(feedback)),
        ),
        sampling=Sampling(temperature=0.0, max_tokens=1),
        adapter=adapter,
    )


def _run(model: LlamaCppModel, request: CompletionRequest) -> tuple[int, int, int]:
    """(prompt tokens, reported cached tokens, tokens the engine really evaluated)."""
    before = model.evaluated_tokens
    usage = model.complete(request).usage
    # With max_tokens=1 the sampled token is never evaluated, so the count is the prompt's.
    return usage.prompt_tokens, usage.cached_tokens, model.evaluated_tokens - before


def test_second_iteration_evaluates_only_the_new_tail(fresh_model: LlamaCppModel) -> None:
    prefix_tokens = fresh_model.count_tokens(PREFIX)
    assert prefix_tokens > 1000

    prompt, cached, evaluated = _run(fresh_model, _iteration("AssertionError: 1 != 2"))
    assert cached == 0
    assert evaluated == prompt

    feedback = "TypeError: unsupported operand type(s) for +: 'int' and 'str'"
    prompt, cached, evaluated = _run(fresh_model, _iteration(feedback))
    tail = prompt - cached
    assert evaluated == tail  # the report is the count
    assert cached > prefix_tokens
    # The user turn and the template's closing tokens, nothing of the repository.
    assert tail <= fresh_model.count_tokens(_task(feedback)) + 8


def test_identical_prompt_reuses_everything_but_the_last_token(
    fresh_model: LlamaCppModel,
) -> None:
    _run(fresh_model, _iteration("same"))
    prompt, cached, evaluated = _run(fresh_model, _iteration("same"))
    assert evaluated <= 1
    assert cached == prompt - evaluated


def test_unrelated_prompt_in_between_costs_a_full_evaluation(
    fresh_model: LlamaCppModel,
) -> None:
    _run(fresh_model, _iteration("first"))
    unrelated = CompletionRequest(
        messages=(Message(role="user", content="Something else."),),
        sampling=Sampling(max_tokens=1),
    )
    fresh_model.complete(unrelated)
    prompt, cached, evaluated = _run(fresh_model, _iteration("second"))
    assert evaluated == prompt - cached
    assert cached < 10  # only the chat template's opening tokens are shared


def test_adapter_switch_empties_the_cache(fresh_model: LlamaCppModel, tiny: TinyModel) -> None:
    adapter = str(tiny.adapters[0])
    _run(fresh_model, _iteration("base"))
    prompt, cached, evaluated = _run(fresh_model, _iteration("base", adapter=adapter))
    assert (cached, evaluated) == (0, prompt)
    # Same adapter again: reused as usual.
    _prompt, cached, _ = _run(fresh_model, _iteration("adapter again", adapter=adapter))
    assert cached > 1000
    # Back to the base model: its cache was dropped at the switch.
    prompt, cached, evaluated = _run(fresh_model, _iteration("base"))
    assert (cached, evaluated) == (0, prompt)


def test_a_reply_in_the_history_is_not_evaluated_again(fresh_model: LlamaCppModel) -> None:
    system = Message(role="system", content="You fix Python code. Repository:\n" + PREFIX)
    first = Message(role="user", content=_task("AssertionError"))
    engine = fresh_model._engine
    # Find a sampled reply that re-tokenizes differently from how it was generated: the case
    # where re-tokenizing the history would throw the reply's cached activations away.
    for seed in range(40):
        request = CompletionRequest(
            messages=(system, first), sampling=Sampling(temperature=1.0, max_tokens=40, seed=seed)
        )
        reply = fresh_model.complete(request)
        n = reply.usage.completion_tokens
        generated = engine._continuation[1][-n:] if n else []
        if reply.text and engine.tokenize(reply.text, special=True) != generated:
            break
    else:
        pytest.fail("no sampled reply re-tokenizes differently; the check would prove nothing")
    feedback = Message(role="user", content="That did not parse. Try again.")
    follow = CompletionRequest(
        messages=(system, first, Message(role="assistant", content=reply.text), feedback),
        sampling=Sampling(temperature=1.0, max_tokens=1, seed=5),
    )
    rendered = engine.render([m.model_dump() for m in follow.messages])
    before_reply = engine.render([m.model_dump() for m in request.messages])
    tail = len(engine.tokenize(rendered[len(before_reply) + len(reply.text) :], special=True))
    before = fresh_model.evaluated_tokens
    usage = fresh_model.complete(follow).usage
    evaluated = fresh_model.evaluated_tokens - before
    # The new turn, plus the reply's last token (sampled, never evaluated).
    assert evaluated <= tail + 1
    assert usage.cached_tokens == usage.prompt_tokens - evaluated
