"""Optional capabilities are small protocols, recognised with ``isinstance`` and acted on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from patchloop import loop
from patchloop.config import Config, FixerSettings, SandboxSettings
from patchloop.domain import (
    Capabilities,
    Completion,
    CompletionRequest,
    Hit,
    Limits,
    ProcessResult,
    Task,
    TestSelection,
    Usage,
)
from patchloop.localize.localizers import FusedLocalizer
from patchloop.protocols import (
    Closeable,
    ContextWindow,
    IndexedRetriever,
    PassesDescriptors,
    ScoredRetriever,
    WarmSandbox,
)
from patchloop.sandbox.local import LocalSandbox
from patchloop.verify.pytest_runner import REPORT_FD_ENV, REPORT_PATH_ENV, PytestRunner
from tests.conftest import CALC, FIX_REPLY, PYTEST_INI, TEST_CALC, make_repo

#: Three hundred small functions after the buggy one: a file too long for a small window.
PADDING = "".join(f"\n\ndef helper_{i}(x):\n    return x * {i} + {i}\n" for i in range(300))


class Replies:
    """A model with only the seam's members."""

    capabilities = Capabilities()

    def __init__(self, replies: list[str], name: str = "replies") -> None:
        self.name = name
        self.replies = list(replies)
        self.requests: list[CompletionRequest] = []

    def complete(self, request: CompletionRequest) -> Completion:
        self.requests.append(request)
        return Completion(text=self.replies.pop(0), usage=Usage(prompt_tokens=1))

    def count_tokens(self, text: str) -> int:
        return len(text) // 4 + 1


class Windowed(Replies):
    """A model that knows its context window."""

    def __init__(self, replies: list[str], window: int) -> None:
        super().__init__(replies)
        self.window = window

    @property
    def context_size(self) -> int:
        return self.window


class Closing(Replies):
    """A model that holds something to release."""

    def __init__(self, replies: list[str], name: str) -> None:
        super().__init__(replies, name)
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def _config(*models: str) -> Config:
    return Config(
        models=models,
        max_iterations=1,
        fixers=FixerSettings(enabled=False),
        sandbox=SandboxSettings(kind="local"),
    )


def _prompt_tokens(model: Replies) -> int:
    return sum(model.count_tokens(m.content) for m in model.requests[0].messages)


def test_the_capabilities_of_the_real_implementations() -> None:
    sandbox = LocalSandbox()
    assert isinstance(sandbox, PassesDescriptors)
    assert isinstance(sandbox, WarmSandbox)
    assert isinstance(Windowed([], 100), ContextWindow)
    assert isinstance(Closing([], "c"), Closeable)
    plain = Replies([])
    assert not isinstance(plain, ContextWindow)
    assert not isinstance(plain, Closeable)


def test_a_model_with_a_context_window_gets_a_prompt_that_fits_it(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "big",
        {"calc.py": CALC + PADDING, "test_calc.py": TEST_CALC, "pytest.ini": PYTEST_INI},
    )
    unbounded = Replies([FIX_REPLY])
    assert loop.repair(Task(repo=repo), _config("replies"), models=[unbounded]).verified
    small = Windowed([FIX_REPLY], 3000)
    assert loop.repair(Task(repo=repo), _config("replies"), models=[small]).verified
    # The reply's share (a quarter of the window at most) and the template's are left free.
    assert _prompt_tokens(small) <= 3000 - 3000 // 4 - 3000 // 32
    assert _prompt_tokens(unbounded) > 3000


def test_repair_closes_the_models_it_built_and_only_those(
    calc_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = Closing([FIX_REPLY], "closing")
    plain = Replies([], "plain")
    monkeypatch.setattr(loop, "build_models", lambda config: [built, plain])
    record = loop.repair(Task(repo=calc_repo), _config("closing", "plain"))
    assert record.verified
    assert built.closed == 1

    given = Closing([FIX_REPLY], "closing")
    assert loop.repair(Task(repo=calc_repo), _config("closing"), models=[given]).verified
    assert given.closed == 0  # the caller's to close


class PlainRetriever:
    """Search only."""

    def __init__(self, hits: list[Hit]) -> None:
        self.hits = hits

    def search(self, query: str, k: int = 10, ref: str | None = None) -> list[Hit]:
        return self.hits[:k]


class ScoringRetriever(PlainRetriever):
    """Search with raw scores per signal."""

    def __init__(self, hits: list[Hit]) -> None:
        super().__init__(hits)
        self.scored = 0

    def search_scored(
        self, query: str, k: int = 10, ref: str | None = None
    ) -> list[tuple[Hit, dict[str, float]]]:
        self.scored += 1
        return [(hit, {"bm25": 1.0}) for hit in self.hits[:k]]


def test_retrieval_capabilities_are_recognised(calc_repo: Path) -> None:
    hit = Hit(path="calc.py", symbol="clamp", start_line=5, end_line=11, text="def clamp")
    plain, scoring = PlainRetriever([hit]), ScoringRetriever([hit])
    assert not isinstance(plain, ScoredRetriever | IndexedRetriever)
    assert isinstance(scoring, ScoredRetriever)
    task = Task(repo=calc_repo, description="clamp returns the low bound for high values")
    from patchloop.domain import TestReport

    for retriever in (plain, scoring):
        found = FusedLocalizer(retriever=retriever).localize(task, TestReport(), calc_repo)
        assert [loc.path for loc in found][:1] == ["calc.py"]
    assert scoring.scored == 1


def test_the_code_index_is_an_indexed_scored_closeable_retriever(
    calc_repo: Path, tmp_path: Path
) -> None:
    pytest.importorskip("bm25s")
    from patchloop.index import open_retriever

    retriever = open_retriever(calc_repo, store_dir=tmp_path / "index", dense=False)
    try:
        assert isinstance(retriever, IndexedRetriever)
        assert isinstance(retriever, ScoredRetriever)
        assert isinstance(retriever, Closeable)
    finally:
        retriever.close()


class FileOnlySandbox:
    """A sandbox whose commands cannot inherit descriptors (``run`` takes no ``pass_fds``)."""

    name = "file-only"
    passes_descriptors = False

    def __init__(self) -> None:
        self.inner = LocalSandbox()
        self.env: dict[str, str] = {}

    def workspace(self, template: Path) -> AbstractContextManager[Path]:
        return self.inner.workspace(template)

    def run(
        self,
        argv: Sequence[str],
        workdir: Path,
        *,
        limits: Limits,
        env: Mapping[str, str] | None = None,
        readable: Sequence[Path] = (),
        writable: Sequence[Path] = (),
    ) -> ProcessResult:
        self.env = dict(env or {})
        return self.inner.run(
            argv, workdir, limits=limits, env=env, readable=readable, writable=writable
        )

    def close(self) -> None:
        self.inner.close()


def test_a_sandbox_that_does_not_pass_descriptors_reports_through_a_file(
    calc_repo: Path,
) -> None:
    sandbox: Any = FileOnlySandbox()
    assert isinstance(sandbox, PassesDescriptors)  # it says, and says no
    runner = PytestRunner(sandbox, "python -m pytest", limits=Limits(wall_s=60))
    assert not runner.warm_capable
    with sandbox.workspace(calc_repo) as workspace:
        report = runner.run(workspace, TestSelection(nodeids=("test_calc.py::test_add",)))
    sandbox.close()
    assert report.passing == ("test_calc.py::test_add",)
    assert REPORT_PATH_ENV in sandbox.env
    assert REPORT_FD_ENV not in sandbox.env
