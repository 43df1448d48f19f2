"""Grammar-constrained output: strict JSON for the edit envelope, parseable search/replace blocks.

The tiny model is random, so without constraints its replies are noise; with them every sampled
reply (temperature 1) must be well formed.
"""

from __future__ import annotations

import json

import jsonschema
import pytest

from patchloop.domain import CompletionRequest, Message, OutputContract, Sampling
from patchloop.edits import ENVELOPE_SCHEMA, get_format
from patchloop.errors import EditError
from patchloop.models.llamacpp import LlamaCppModel

SAMPLES = 50


def _requests(contract: OutputContract | None) -> list[CompletionRequest]:
    messages = (
        Message(role="system", content="Reply with edits only."),
        Message(role="user", content="tests/test_cart.py::test_total fails; fix src/cart.py."),
    )
    return [
        CompletionRequest(
            messages=messages,
            contract=contract,
            sampling=Sampling(temperature=1.0, max_tokens=1500, seed=seed),
        )
        for seed in range(SAMPLES)
    ]


def _strict_valid(text: str) -> bool:
    try:
        value = json.loads(text)  # strict: no raw control characters in strings
    except ValueError:
        return False
    return not list(jsonschema.Draft202012Validator(ENVELOPE_SCHEMA).iter_errors(value))


@pytest.mark.parametrize(
    "contract",
    [
        pytest.param(OutputContract(name="json", json_schema=ENVELOPE_SCHEMA), id="from-schema"),
        pytest.param(get_format("json").contract(), id="format-contract"),
    ],
)
def test_constrained_json_is_strictly_valid_every_time(
    model: LlamaCppModel, contract: OutputContract
) -> None:
    replies = [model.complete(r) for r in _requests(contract)]
    bad = [r.text for r in replies if not _strict_valid(r.text)]
    assert bad == [], f"{len(bad)}/{SAMPLES} invalid, first: {bad[0]!r}"
    assert all(r.finish_reason == "stop" for r in replies)
    # The samples differ: the grammar constrains, it does not dictate.
    assert len({r.text for r in replies}) > SAMPLES // 2


def test_constrained_search_replace_always_parses(model: LlamaCppModel) -> None:
    fmt = get_format("search-replace")
    contract = fmt.contract()
    assert contract is not None
    failures = []
    for request in _requests(contract):
        text = model.complete(request).text
        try:
            edits = fmt.parse(text)
        except EditError as exc:
            failures.append(f"{exc}: {text[:200]!r}")
            continue
        assert edits, text
    assert failures == []


def test_unconstrained_replies_are_rarely_well_formed(model: LlamaCppModel) -> None:
    # The control: what the constraints above are worth on this model.
    replies = [model.complete(r).text for r in _requests(None)[:20]]
    assert sum(_strict_valid(t) for t in replies) == 0
