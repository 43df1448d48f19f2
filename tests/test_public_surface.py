"""The library's public surface: ``patchloop.repair`` and the types it takes and returns."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import patchloop
from tests.conftest import FIX_REPLY


class ReplyModel:
    """A model written against the public surface only: one scripted reply per request."""

    name = "replies"
    capabilities = patchloop.Capabilities()

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.requests: list[patchloop.CompletionRequest] = []

    def complete(self, request: patchloop.CompletionRequest) -> patchloop.Completion:
        self.requests.append(request)
        text = self.replies.pop(0)
        return patchloop.Completion(
            text=text, usage=patchloop.Usage(prompt_tokens=100, completion_tokens=len(text))
        )

    def count_tokens(self, text: str) -> int:
        return len(text) // 4 + 1


def test_every_public_name_resolves() -> None:
    missing = [name for name in patchloop.__all__ if not hasattr(patchloop, name)]
    assert missing == []
    assert len(set(patchloop.__all__)) == len(patchloop.__all__)


def test_the_surface_names_the_objects_the_library_uses() -> None:
    from patchloop import config, domain, errors, loop, protocols

    assert patchloop.repair is loop.repair
    assert patchloop.Config is config.Config
    assert patchloop.RunRecord is domain.RunRecord
    assert patchloop.Model is protocols.Model
    # The whole error tree of a repair (the service's HTTP errors are the service's own).
    tree = {name for name in errors.__all__ if issubclass(getattr(errors, name), Exception)}
    service = {n for n in tree if issubclass(getattr(errors, n), errors.ServiceError)}
    assert tree - service <= set(patchloop.__all__)
    assert "ServiceError" not in patchloop.__all__


def test_star_import_gives_repair() -> None:
    namespace: dict[str, object] = {}
    exec("from patchloop import *", namespace)
    assert namespace["repair"] is patchloop.repair
    assert "RunSession" not in namespace


def test_importing_the_package_does_not_load_the_loop() -> None:
    code = "import sys, patchloop; print('patchloop.loop' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "False"


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="RunSession"):
        patchloop.RunSession  # type: ignore[attr-defined]  # noqa: B018


def test_repair_end_to_end_through_the_public_surface(calc_repo: Path) -> None:
    model = ReplyModel([FIX_REPLY])
    config = patchloop.Config(
        models=("replies",),
        max_iterations=2,
        fixers=patchloop.FixerSettings(enabled=False),
    )
    events: list[patchloop.Event] = []
    record = patchloop.repair(
        patchloop.Task(repo=calc_repo), config, models=[model], on_event=events.append
    )
    assert isinstance(record, patchloop.RunRecord)
    assert record.verified
    assert record.targets == ("test_calc.py::test_clamp_high",)
    assert "+        return high" in record.diff
    assert [a.status for a in record.attempts] == ["verified"]
    assert all(isinstance(a, patchloop.Attempt) for a in record.attempts)
    assert len(model.requests) == 1
    kinds = [e.kind for e in events]
    assert kinds[0] == "run.start"
    assert kinds[-1] == "run.end"
    assert (calc_repo / ".patchloop" / "runs" / record.id / "record.json").is_file()
