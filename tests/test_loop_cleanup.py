"""``repair`` closes what it opened: warm interpreters and scratch directories, on every path."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from patchloop.config import Config, FixerSettings, SandboxSettings
from patchloop.domain import Capabilities, Completion, CompletionRequest, Task, Usage
from patchloop.errors import InfrastructureError
from patchloop.loop import repair
from patchloop.sandbox import TEMP_PREFIX
from patchloop.sandbox.warm import WarmPython
from patchloop.verify.pytest_runner import plugin_dir
from tests.conftest import FIX_REPLY

WRONG_REPLY = FIX_REPLY.replace("return high", "return value")


class Replies:
    """A model that answers from a list; an exception in the list is raised instead."""

    name = "replies"
    capabilities = Capabilities()

    def __init__(self, replies: list[str | BaseException]) -> None:
        self.replies = list(replies)

    def complete(self, request: CompletionRequest) -> Completion:
        del request
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return Completion(text=reply, usage=Usage(prompt_tokens=10, completion_tokens=10))

    def count_tokens(self, text: str) -> int:
        return len(text) // 4 + 1


@dataclass
class Opened:
    """Warm servers started and scratch directories made in this process during a test."""

    servers: list[WarmPython] = field(default_factory=list)
    dirs: list[Path] = field(default_factory=list)

    def left_behind(self) -> tuple[list[int], list[Path]]:
        alive = [s.proc.pid for s in self.servers if s.proc.poll() is None]
        shared = plugin_dir()  # one per process, removed at exit: not the run's
        kept = [d for d in self.dirs if d != shared and d.exists()]
        return alive, kept


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[Opened]:
    seen = Opened()
    plugin_dir()  # made before the run, so that it is not counted as the run's
    mkdtemp = tempfile.mkdtemp
    start = WarmPython.__init__

    def record_dir(*args: Any, **kwargs: Any) -> str:
        path: str = mkdtemp(*args, **kwargs)
        if Path(path).name.startswith(TEMP_PREFIX):
            seen.dirs.append(Path(path))
        return path

    def record_server(self: WarmPython, *args: Any, **kwargs: Any) -> None:
        start(self, *args, **kwargs)
        seen.servers.append(self)

    monkeypatch.setattr(tempfile, "mkdtemp", record_dir)
    monkeypatch.setattr(WarmPython, "__init__", record_server)
    yield seen
    for server in seen.servers:  # a failing test must not leak them into the next one
        server.close()


def _kinds() -> list[Any]:
    from patchloop.sandbox.bwrap import bwrap_works

    why = bwrap_works()
    skip = pytest.mark.skipif(why is not None, reason=why or "")
    return ["local", pytest.param("bwrap", marks=skip)]


def _config(kind: str) -> Config:
    return Config(
        models=("replies",),
        max_iterations=1,
        fixers=FixerSettings(enabled=False),
        sandbox=SandboxSettings(kind=kind),
    )


def _repair(repo: Path, kind: str, replies: list[str | BaseException]) -> str:
    """The run's status, or the name of what it raised."""
    try:
        record = repair(Task(repo=repo), _config(kind), models=[Replies(replies)])
    except (InfrastructureError, KeyboardInterrupt) as exc:
        return type(exc).__name__
    return record.status


CASES: dict[str, tuple[list[str | BaseException], str]] = {
    "verified": ([FIX_REPLY], "verified"),
    "not_fixed": ([WRONG_REPLY], "not_fixed"),
    "error": ([InfrastructureError("the harness broke")], "InfrastructureError"),
    "interrupt": ([KeyboardInterrupt()], "KeyboardInterrupt"),
}


@pytest.mark.parametrize("kind", _kinds())
@pytest.mark.parametrize("case", sorted(CASES))
def test_nothing_of_the_run_is_left_when_repair_returns(
    calc_repo: Path, opened: Opened, kind: str, case: str
) -> None:
    replies, expected = CASES[case]
    assert _repair(calc_repo, kind, replies) == expected
    # The run did start a warm interpreter and make scratch space (else there is nothing to see).
    assert opened.servers
    assert opened.dirs
    assert opened.left_behind() == ([], [])


def test_a_run_that_fails_before_the_baseline_closes_its_sandbox(
    calc_repo: Path, opened: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    from patchloop import session

    closed: list[str] = []
    real: Callable[..., Any] = session.get_sandbox

    def spy(settings: SandboxSettings) -> Any:
        sandbox = real(settings)
        original = sandbox.close

        def close() -> None:
            closed.append(sandbox.name)
            original()

        sandbox.close = close
        return sandbox

    def broken_store(*args: Any, **kwargs: Any) -> Any:
        raise InfrastructureError("no room for the record")

    monkeypatch.setattr(session, "get_sandbox", spy)
    monkeypatch.setattr(session, "save_snapshot", broken_store)
    with pytest.raises(InfrastructureError, match="no room"):
        repair(Task(repo=calc_repo), _config("local"), models=[Replies([FIX_REPLY])])
    assert closed == ["local"]
    assert opened.left_behind() == ([], [])
