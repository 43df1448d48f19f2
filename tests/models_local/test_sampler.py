"""The engine's decode loop: grammar on the likely tokens first, looping replies stopped."""

from __future__ import annotations

import re

import pytest

from patchloop.domain import (
    CompletionRequest,
    EditScope,
    Message,
    OutputContract,
    Sampling,
    ScopeFile,
)
from patchloop.edits import get_format
from patchloop.models.llamacpp import LlamaCppModel
from tests.edits.gbnf_regex import gbnf_to_regex

SOURCE = (
    "def clamp(value, low, high):\n    if value > high:\n        return low\n    return value\n"
)
SCOPE = EditScope(files=(ScopeFile(path="calc.py", text=SOURCE),), max_edits=2)


def _ask(
    contract: OutputContract | None, *, seed: int, temperature: float = 1.0
) -> CompletionRequest:
    return CompletionRequest(
        messages=(Message(role="user", content="Fix clamp in calc.py."),),
        contract=contract,
        sampling=Sampling(temperature=temperature, max_tokens=400, seed=seed),
    )


@pytest.mark.parametrize("name", ["search-replace", "json", "udiff"])
def test_sampled_replies_stay_inside_the_scoped_contract(model: LlamaCppModel, name: str) -> None:
    fmt = get_format(name)
    contract = fmt.contract(SCOPE)
    assert contract is not None
    assert contract.grammar is not None
    pattern = re.compile(gbnf_to_regex(contract.grammar), re.DOTALL)
    finished = 0
    for seed in range(4):
        reply = model.complete(_ask(contract, seed=seed))
        if reply.finish_reason != "stop":
            # Cut at the token cap: a prefix of an admitted reply, on the scope's file.
            head = {"search-replace": "calc.py\n", "json": '{"edits"', "udiff": "```diff\n"}
            assert reply.text.replace(" ", "").startswith(head[name].replace(" ", ""))
            assert "test_" not in reply.text.split("\n", 2)[1 if name == "udiff" else 0]
            continue
        finished += 1
        assert pattern.fullmatch(reply.text), reply.text
        edits = fmt.parse(reply.text)
        assert {e.path for e in edits} == {"calc.py"}
        assert all(e.search in SOURCE for e in edits if name != "udiff")
    assert finished or name == "udiff"  # random weights rarely close a free-form diff


def test_a_reply_that_repeats_a_closed_edit_is_stopped_and_cut(model: LlamaCppModel) -> None:
    unit = "x\n>>>>>>> REPLACE\n"
    forced = 'root ::= "x\\n>>>>>>> REPLACE\\n"{3}\n'
    looping = OutputContract(name="loop", grammar=forced, unit_end=">>>>>>> REPLACE\n")
    reply = model.complete(_ask(looping, seed=0, temperature=0.0))
    assert reply.text == unit
    assert reply.finish_reason == "stop"
    # Without the edit end the same grammar runs through all three.
    plain = looping.model_copy(update={"unit_end": None})
    assert model.complete(_ask(plain, seed=0, temperature=0.0)).text == unit * 3


def test_greedy_under_a_grammar_is_deterministic(model: LlamaCppModel) -> None:
    contract = get_format("search-replace").contract(SCOPE)
    first = model.complete(_ask(contract, seed=1, temperature=0.0)).text
    assert model.complete(_ask(contract, seed=2, temperature=0.0)).text == first
