"""Replies decoded again from the token the model hesitated on: the embedded engine's forks."""

from __future__ import annotations

import re

from patchloop.domain import CompletionRequest, EditScope, Message, Sampling, ScopeFile
from patchloop.edits import get_format
from patchloop.models.llamacpp import LlamaCppModel
from patchloop.protocols import AvoidingSampler
from tests.edits.gbnf_regex import gbnf_to_regex

SOURCE = (
    "def clamp(value, low, high):\n    if value > high:\n        return low\n    return value\n"
)
SCOPE = EditScope(files=(ScopeFile(path="calc.py", text=SOURCE),), max_edits=1)


def _ask(*, grammar: bool = False, max_tokens: int = 60) -> CompletionRequest:
    contract = get_format("whole").contract(SCOPE) if grammar else None
    return CompletionRequest(
        messages=(Message(role="user", content="Rewrite calc.py with clamp fixed."),),
        contract=contract,
        sampling=Sampling(temperature=0.0, max_tokens=max_tokens, seed=3),
    )


def test_the_embedded_model_avoids_replies(fresh_model: LlamaCppModel) -> None:
    assert isinstance(fresh_model, AvoidingSampler)


def test_a_refused_reply_is_forked_where_the_model_hesitated(fresh_model: LlamaCppModel) -> None:
    first = fresh_model.complete(_ask())
    seen: list[str] = []

    def refuse_the_first(text: str) -> bool:
        seen.append(text)
        return text == first.text

    forked = fresh_model.complete_avoiding(_ask(), refuse_the_first, 2)
    # The greedy reply came first and was refused; the fork differs from it, shares a head
    # with it, and its usage counts both passes.
    assert seen[0] == first.text
    assert forked.forks == 1
    assert forked.text != first.text
    head = next(i for i, (a, b) in enumerate(zip(forked.text, first.text, strict=False)) if a != b)
    assert forked.text[:head] == first.text[:head]
    assert forked.usage.completion_tokens > first.usage.completion_tokens
    # A reply that is not refused comes back as it was, with no fork.
    again = fresh_model.complete_avoiding(_ask(), lambda _text: False, 2)
    assert again.text == first.text
    assert again.forks == 0


def test_forks_stop_after_their_tries_and_stay_inside_the_contract(
    fresh_model: LlamaCppModel,
) -> None:
    request = _ask(grammar=True, max_tokens=120)
    assert request.contract is not None
    assert request.contract.grammar is not None
    pattern = re.compile(gbnf_to_regex(request.contract.grammar), re.DOTALL)
    texts: list[str] = []

    def refuse_all(text: str) -> bool:
        texts.append(text)
        return True

    reply = fresh_model.complete_avoiding(request, refuse_all, 3)
    assert reply.forks == 3
    assert len(texts) == 3  # asked after the first reply and after each fork but the last
    assert len(set(texts)) == len(texts)
    for text in [*texts, reply.text]:
        if text.endswith("```\n"):
            assert pattern.fullmatch(text), text
        else:  # cut by the token cap: the head of an admitted reply
            assert text.startswith("calc.py\n```")
