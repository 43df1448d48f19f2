"""Drafts looked up in the context: fewer decode batches, the same tokens."""

from __future__ import annotations

from patchloop.domain import CompletionRequest, Message, OutputContract, Sampling
from patchloop.edits.contracts import gbnf_literal
from patchloop.models._lookup import Drafts
from patchloop.models.llamacpp import LlamaCppModel

TEXT = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi"


def test_a_draft_is_what_followed_the_latest_earlier_occurrence() -> None:
    drafts = Drafts([1, 2, 3, 4, 5, 9, 1, 2, 3, 7, 8], n=3)
    assert drafts.lookup(4) == []  # 3 7 8 occurs nowhere earlier
    for token in (1, 2, 3):
        drafts.add(token)
    # 1 2 3 occurred twice before; the latest one was followed by 7 8 1 2.
    assert drafts.lookup(4) == [7, 8, 1, 2]
    assert drafts.lookup(1) == [7]
    assert drafts.lookup(0) == []
    assert Drafts([1, 2], n=3).lookup(4) == []


def test_the_run_just_written_is_not_its_own_draft() -> None:
    drafts = Drafts([5, 6, 7], n=3)
    assert drafts.lookup(3) == []


def _copy_request(grammar: bool) -> CompletionRequest:
    contract = (
        OutputContract(name="copy", grammar=f"root ::= {gbnf_literal(TEXT)}\n", unit_end=None)
        if grammar
        else None
    )
    return CompletionRequest(
        messages=(Message(role="user", content=f"Copy this line exactly:\n{TEXT}\n"),),
        contract=contract,
        sampling=Sampling(temperature=0.0, max_tokens=80, seed=1),
    )


def _decode(model: LlamaCppModel, request: CompletionRequest, draft: int) -> tuple[str, int, int]:
    """The reply's text, its completion tokens and the decode batches it took."""
    engine = model._engine
    engine.draft_tokens = draft
    before = engine.batches
    reply = model.complete(request)
    return reply.text, reply.usage.completion_tokens, engine.batches - before


def test_a_reply_that_copies_the_prompt_takes_several_tokens_per_batch(
    fresh_model: LlamaCppModel,
) -> None:
    # The grammar makes even random weights copy the prompt's line.
    request = _copy_request(grammar=True)
    one_by_one, tokens, steps = _decode(fresh_model, request, 0)
    drafted, drafted_tokens, batches = _decode(fresh_model, request, 16)
    assert drafted == one_by_one == TEXT
    assert drafted_tokens == tokens
    assert steps == tokens
    # Random weights split the text into other tokens than the prompt's in places, where a
    # draft is refused; the rest goes several tokens per batch.
    assert batches <= tokens // 2


def test_drafts_never_change_what_is_picked(fresh_model: LlamaCppModel) -> None:
    # Unconstrained, greedy and sampled: drafts are refused where the model disagrees, and
    # the reply is the one decoded a token at a time.
    for temperature in (0.0, 0.9):
        request = _copy_request(grammar=False).model_copy(
            update={"sampling": Sampling(temperature=temperature, max_tokens=60, seed=5)}
        )
        assert _decode(fresh_model, request, 0)[0] == _decode(fresh_model, request, 16)[0]
