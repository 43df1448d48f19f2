"""``fix`` with an issue text and no failing test: the issue ranking chooses the context."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from patchloop.config import Config
from patchloop.domain import Task
from patchloop.planning import NEEDS_A_FAILING_TEST, issue_context
from patchloop.session import RunSession
from tests.conftest import make_repo

PRICES = '''\
def volume_discount(quantity):
    """Ten percent off from 100 items on."""
    if quantity > 100:
        return 0.1
    return 0.0


def shipping(weight):
    return 5 + weight * 0.5
'''


class _Run(SimpleNamespace):
    def emit(self, kind: str, message: str = "", **data: Any) -> None:
        self.events.append((kind, message))

    def spend(self, phase: str, seconds: float) -> None:
        self.timings[phase] = self.timings.get(phase, 0.0) + seconds


def test_the_task_text_alone_ranks_the_context_and_says_a_test_is_needed(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "shop",
        {"shop/prices.py": PRICES, "tests/test_prices.py": "def test_x():\n    pass\n"},
    )
    config = Config.model_validate({"index": {"dir": str(tmp_path / "index")}})
    run = _Run(
        task=Task(repo=repo, description="`volume_discount` starts one item too late"),
        config=config,
        snapshot=SimpleNamespace(info=SimpleNamespace(root=str(repo))),
        events=[],
        timings={},
    )
    found = issue_context(cast(RunSession, run))
    assert found
    assert (found[0].path, found[0].symbol) == ("shop/prices.py", "volume_discount")
    assert not any(loc.path.startswith("tests/") for loc in found)
    kind, message = run.events[-1]
    assert kind == "localize"
    assert NEEDS_A_FAILING_TEST in message
    assert "localize" in run.timings
