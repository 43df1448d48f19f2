"""Replies decoded again from the token the model hesitated on: the embedded engine's forks."""

from __future__ import annotations

import re

from patchloop.domain import CompletionRequest, EditScope, Message, Sampling, ScopeFile
from patchloop.edits import get_format
from patchloop.models.llamacpp import LlamaCppModel
from patchloop.protocols import AvoidingSampler, BranchSampler
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


def _shared_head(a: str, b: str) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def test_branches_differ_from_the_first_reply_after_a_shared_head(
    fresh_model: LlamaCppModel,
) -> None:
    assert isinstance(fresh_model, BranchSampler)
    request = _ask(grammar=True, max_tokens=120)
    assert request.contract is not None
    assert request.contract.grammar is not None
    pattern = re.compile(gbnf_to_regex(request.contract.grammar), re.DOTALL)
    first = fresh_model.complete(request)
    out = fresh_model.complete_branches(request, 3, lambda _text: False, 3)
    # The first candidate is the reply itself; each branch starts as it does, then differs.
    assert len(out) == 3
    assert out[0].text == first.text
    assert out[0].forks == 2
    assert len({c.text for c in out}) == 3
    for branch in out[1:]:
        assert branch.forks == 1
        assert branch.text != first.text
        assert _shared_head(branch.text, first.text) >= len("calc.py\n```\n")
        # A branch is decoded under the same contract.
        if branch.text.endswith("```\n"):
            assert pattern.fullmatch(branch.text), branch.text
        else:
            assert branch.text.startswith("calc.py\n```")


def test_refused_branches_are_dropped_and_their_cost_counted(fresh_model: LlamaCppModel) -> None:
    first = fresh_model.complete(_ask(grammar=True, max_tokens=120))
    asked: list[str] = []

    def only_the_first(text: str) -> bool:
        asked.append(text)
        return text != first.text

    out = fresh_model.complete_branches(_ask(grammar=True, max_tokens=120), 3, only_the_first, 2)
    # Two branches were decoded and dropped (refused, or spelling the first reply's text
    # with other tokens, which is not asked about): the first reply comes back alone.
    assert [c.text for c in out] == [first.text]
    assert asked[0] == first.text
    assert len(asked) <= 3
    assert out[0].forks == 2
    assert out[0].usage.completion_tokens > first.usage.completion_tokens


def test_a_refused_first_reply_gives_way_to_its_branches(fresh_model: LlamaCppModel) -> None:
    first = fresh_model.complete(_ask(grammar=True, max_tokens=120))
    out = fresh_model.complete_branches(
        _ask(grammar=True, max_tokens=120), 2, lambda text: text == first.text, 2
    )
    assert len(out) == 2
    assert first.text not in {c.text for c in out}
    # The refused first reply's tokens are counted in the first candidate returned.
    assert out[0].usage.completion_tokens > out[1].usage.completion_tokens


def test_until_sees_the_sampled_tokens_and_not_the_head(fresh_model: LlamaCppModel) -> None:
    engine = fresh_model._engine
    prompt = engine.prompt_tokens(engine.render([{"role": "user", "content": "Write calc.py."}]))
    head = engine.tokenize("calc.py\n", special=False)
    seen = bytearray()

    def until(piece: bytes) -> bool:
        seen.extend(piece)
        return len(seen) >= 12

    out = engine.generate_many(
        prompt, [(0.0, 1)], max_tokens=60, stop=[], grammar=None, head=head, until=until
    )[0]
    # The reply is the head and what was sampled after it, up to the token ``until`` stopped at.
    assert out.finish_reason == "stop"
    assert out.text == "calc.py\n" + seen.decode("utf-8", errors="ignore")
    assert out.completion_tokens < 60
