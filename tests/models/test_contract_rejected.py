"""A server that rejects the output contract (a schema or grammar it cannot compile): the loop
asks again without it and keeps the replies validated; ``models check`` records that the
contract is not enforced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from patchloop.config import Config, FixerSettings, ModelSettings
from patchloop.domain import Task
from patchloop.loop import repair
from patchloop.models import load_capabilities, parse_spec
from patchloop.models.check import check_model
from patchloop.models.openai import from_spec
from tests.conftest import FIX_REPLY
from tests.models.conftest import chat_body
from tests.models.httpserver import Recorded, Reply, TestServer

CHAT = "/v1/chat/completions"
CONTRACT_FIELDS = ("structured_outputs", "response_format", "grammar", "json_schema", "regex")
WRONG_REPLY = FIX_REPLY.replace("return high", "return value")
FIX_ENVELOPE = json.dumps(
    {
        "edits": [
            {
                "path": "calc.py",
                "search": "    if value > high:\n        return low\n",
                "replace": "    if value > high:\n        return high\n",
            }
        ],
        "run_tests": True,
        "explanation": "clamp returned the low bound for values above the range",
    }
)


class RejectingServer:
    """Answers 400 to any request carrying an output contract, like a server whose grammar
    backend cannot compile it; answers ``replies`` in order otherwise."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.rejected = 0

    def __call__(self, req: Recorded) -> Reply:
        body = req.json()
        if any(k in body for k in CONTRACT_FIELDS):
            self.rejected += 1
            message = "Grammar error: the grammar backend cannot compile this schema"
            return Reply(400, {"error": {"message": message, "type": "BadRequestError"}})
        return Reply(200, chat_body(self.replies.pop(0) if self.replies else "nothing"))


def _config(**changes: Any) -> Config:
    base = Config(
        models=("x",),
        max_iterations=3,
        fixers=FixerSettings(enabled=False),
        model=ModelSettings(retries=0, request_timeout=10),
    )
    return base.model_copy(update=changes)


@pytest.mark.parametrize(
    ("kind", "edit_format", "replies"),
    [
        ("vllm", "search-replace", [WRONG_REPLY, FIX_REPLY]),
        ("llama-server", "json", ["not json at all", FIX_ENVELOPE]),
    ],
)
def test_loop_retries_without_the_rejected_contract(
    server: TestServer, calc_repo: Path, kind: str, edit_format: str, replies: list[str]
) -> None:
    engine = RejectingServer(replies)
    server.handle("POST", CHAT, engine)
    spec = f"{kind}:{server.url}/v1#m1"
    with from_spec(parse_spec(spec), ModelSettings(retries=0)) as model:
        record = repair(
            Task(repo=calc_repo),
            _config(models=(spec,), edit_format=edit_format),
            models=[model],
        )
    assert record.status == "verified", [a.error for a in record.attempts]
    # The first attempt's malformed reply was parsed and rejected, not passed on as an edit.
    assert [a.status for a in record.attempts][-1] == "verified"
    assert record.attempts[0].status in ("tests_failed", "parse_error")
    bodies = server.bodies(CHAT)
    # One rejected request, then every request of the run without the contract.
    assert engine.rejected == 1
    assert any(k in bodies[0] for k in CONTRACT_FIELDS)
    assert len(bodies) == 1 + len(record.attempts)
    assert all(not any(k in b for k in CONTRACT_FIELDS) for b in bodies[1:])


def test_loop_still_fails_when_the_server_rejects_everything(
    server: TestServer, calc_repo: Path
) -> None:
    server.add("POST", CHAT, Reply(400, {"error": {"message": "model does not exist"}}))
    spec = f"vllm:{server.url}/v1#m1"
    with from_spec(parse_spec(spec), ModelSettings(retries=0)) as model:
        record = repair(Task(repo=calc_repo), _config(models=(spec,)), models=[model])
    assert record.status == "not_fixed"
    assert record.stop_reason == "model_error"
    assert [a.error for a in record.attempts] == ["BadRequest"]
    assert len(server.bodies(CHAT)) == 2  # with the contract, then once without


@pytest.mark.parametrize("kind", ["vllm", "openai", "llama-server"])
def test_check_records_a_rejected_contract_as_not_enforced(
    server: TestServer, tmp_path: Path, kind: str
) -> None:
    server.handle("POST", CHAT, RejectingServer(["OK"] * 10))
    server.add("GET", "/v1/models", Reply(200, {"data": [{"id": "m1"}]}))
    server.add("GET", "/health", Reply(200, b""))
    cache = tmp_path / "caps.json"
    spec = f"{kind}:{server.url}/v1#m1"
    result = check_model(spec, ModelSettings(retries=0), cache_path=cache)
    assert result.reachable
    assert result.constrained_output is False
    assert result.probes_sent == 1  # no point sending the other probes
    assert "rejected the output contract" in result.probe_failures[0]
    assert not result.capabilities.constrained_output
    assert not result.capabilities.grammar
    recorded = load_capabilities(spec, cache)
    assert recorded is not None
    assert recorded.capabilities.constrained_output is False
