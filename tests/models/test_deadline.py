"""A request's ``timeout_s`` (the run's time budget) bounds every backend: HTTP tries are cut
at it and not retried past it, a scripted delay gives up at it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from patchloop.config import Config, FixerSettings, ModelSettings
from patchloop.domain import Task
from patchloop.errors import ModelTimeout, ModelUnavailable
from patchloop.loop import repair
from patchloop.models import openai as openai_backend
from patchloop.models import parse_spec
from patchloop.models import tgi as tgi_backend
from patchloop.models.scripted import ScriptedModel, ScriptedReply
from tests.models.conftest import GRAMMAR_CONTRACT, JSON_CONTRACT, Sleeps, chat_body, request
from tests.models.httpserver import Reply, TestServer
from tests.models.server_shapes import TGI_GENERATE, problems, validating

CHAT = "/v1/chat/completions"
#: A request timeout far beyond the budget: only the budget can end the wait early.
SLOW_SETTINGS = ModelSettings(request_timeout=30.0, retries=3, backoff_s=0.5, max_backoff_s=4.0)


def _timed(model: Any, **kw: Any) -> float:
    started = time.monotonic()
    with pytest.raises(ModelTimeout, match="time budget"):
        model.complete(request().model_copy(update=kw))
    return time.monotonic() - started


def test_openai_request_is_cut_at_the_time_left(server: TestServer, sleeps: Sleeps) -> None:
    server.add("POST", CHAT, Reply(200, chat_body(), delay_s=10))
    spec = parse_spec(f"vllm:{server.url}/v1#m1")
    with openai_backend.from_spec(spec, SLOW_SETTINGS, sleep=sleeps) as model:
        elapsed = _timed(model, timeout_s=0.5)
    assert elapsed < 5  # not the 30 s request timeout, and no retries
    assert len(server.bodies(CHAT)) == 1
    assert sleeps == []


def test_no_retry_starts_that_would_end_past_the_deadline(
    server: TestServer, sleeps: Sleeps
) -> None:
    server.add("POST", CHAT, Reply(429, {"error": "busy"}, headers={"Retry-After": "3"}))
    spec = parse_spec(f"openai:{server.url}/v1#m1")
    with openai_backend.from_spec(spec, SLOW_SETTINGS, sleep=sleeps) as model:
        with pytest.raises(Exception, match="429") as caught:
            model.complete(request().model_copy(update={"timeout_s": 2.0}))
        assert caught.type.__name__ == "RateLimited"
        assert sleeps == []  # a 3 s wait would pass the 2 s left
        assert len(server.bodies(CHAT)) == 1
        # Without a deadline the same server is retried, waiting what it asks.
        with pytest.raises(Exception, match="429"):
            model.complete(request())
    assert sleeps == [3.0, 3.0, 3.0]


def test_retries_within_the_deadline_still_happen(server: TestServer, sleeps: Sleeps) -> None:
    server.add("POST", CHAT, Reply(500, {"error": "oops"}), Reply(200, chat_body("ok")))
    spec = parse_spec(f"openai:{server.url}/v1#m1")
    with openai_backend.from_spec(spec, SLOW_SETTINGS, sleep=sleeps) as model:
        reply = model.complete(request().model_copy(update={"timeout_s": 20.0}))
    assert reply.text == "ok"
    assert len(sleeps) == 1


def test_a_spent_budget_sends_nothing(server: TestServer) -> None:
    server.add("POST", CHAT, Reply(200, chat_body()))
    spec = parse_spec(f"openai:{server.url}/v1#m1")
    with openai_backend.from_spec(spec, SLOW_SETTINGS) as model:
        _timed(model, timeout_s=0.0)
    assert server.bodies(CHAT) == []


def test_tgi_both_requests_share_the_deadline(server: TestServer, sleeps: Sleeps) -> None:
    server.add("POST", "/chat_tokenize", Reply(404, {"error": "no"}))
    server.add("POST", "/generate", Reply(200, {"generated_text": "x"}, delay_s=10))
    spec = parse_spec(f"tgi:{server.url}")
    with tgi_backend.from_spec(spec, SLOW_SETTINGS, sleep=sleeps) as model:
        elapsed = _timed(model, timeout_s=0.5)
    assert elapsed < 5
    assert len(server.bodies("/generate")) == 1
    assert sleeps == []


def test_tgi_requests_pass_the_tgi_validator(server: TestServer) -> None:
    generated = {"generated_text": "x", "details": {"finish_reason": "eos_token"}}
    server.handle("POST", "/generate", validating(TGI_GENERATE, Reply(200, generated)))
    spec = parse_spec(f"tgi:{server.url}")
    with tgi_backend.from_spec(spec, ModelSettings()) as model:
        for contract in (None, JSON_CONTRACT, GRAMMAR_CONTRACT):
            for adapter in (None, "fix"):
                req = request(contract, adapter=adapter, temperature=0.7, seed=3, stop=["</s>"])
                assert model.complete(req).text == "x"
    bodies = server.bodies("/generate")
    assert len(bodies) == 6
    assert all(problems(TGI_GENERATE, b) == [] for b in bodies)
    # The validator is not a rubber stamp: a GBNF grammar, which TGI has no type for, is refused.
    wrong = {**bodies[0], "parameters": {"grammar": {"type": "gbnf", "value": 'root ::= "x"'}}}
    assert problems(TGI_GENERATE, wrong)


def test_scripted_delay_past_the_limit_is_a_timeout() -> None:
    waited: list[float] = []
    model = ScriptedModel(
        [ScriptedReply(text="slow", delay_s=12), ScriptedReply(text="quick", delay_s=0.5)],
        sleep=waited.append,
    )
    with pytest.raises(ModelTimeout, match="allows 3s"):
        model.complete(request().model_copy(update={"timeout_s": 3.0}))
    assert waited == [3.0]  # it gave up at the limit, not after 12 s
    assert model.complete(request().model_copy(update={"timeout_s": 3.0})).text == "quick"
    assert waited == [3.0, 0.5]


def test_scripted_without_limit_waits_the_whole_delay() -> None:
    waited: list[float] = []
    model = ScriptedModel([ScriptedReply(text="slow", delay_s=12)], sleep=waited.append)
    assert model.complete(request()).text == "slow"
    assert waited == [12]
    with pytest.raises(ModelUnavailable):
        model.complete(request())


def test_the_loop_passes_the_run_budget_to_the_model(calc_repo: Path) -> None:
    waited: list[float] = []
    model = ScriptedModel(
        [ScriptedReply(text="too late", delay_s=120)], name="scripted:a", sleep=waited.append
    )
    config = Config(
        models=("scripted:a",), fixers=FixerSettings(enabled=False), max_iterations=3, timeout=60
    )
    record = repair(Task(repo=calc_repo), config, models=[model])
    limit = model.history[0].timeout_s
    assert limit is not None
    assert 0 < limit <= 60
    assert waited == [limit]  # cut off at the run's budget, not after 120 s
    assert [a.error for a in record.attempts] == ["ModelTimeout"]
    assert record.status == "not_fixed"
