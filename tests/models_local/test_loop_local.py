"""The repair loop driving the embedded model: the prompt fits the loaded context window and
later iterations evaluate only the new tail; a request's time limit stops generation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from patchloop.config import Config, FixerSettings, ModelSettings
from patchloop.domain import Completion, CompletionRequest, Message, RunRecord, Sampling, Task
from patchloop.errors import ModelTimeout
from patchloop.loop import repair
from patchloop.models.llamacpp import LlamaCppModel
from patchloop.models.tiny import TinyModel
from tests.conftest import git

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    """A committed copy of the quick-start example."""
    repo = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, repo, ignore=shutil.ignore_patterns(".patchloop", "__pycache__"))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


def _config(model: LlamaCppModel, **settings: object) -> Config:
    return Config(
        models=(model.name,),
        max_iterations=3,
        fixers=FixerSettings(enabled=False),
        model=ModelSettings(**settings),  # type: ignore[arg-type]
    )


class Metered:
    """The embedded model behind the same seam, noting the tokens the engine really evaluated
    during each call (its own counter, independent of the reported usage)."""

    def __init__(self, model: LlamaCppModel) -> None:
        self.model = model
        self.evaluated: list[int] = []

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def capabilities(self):  # type: ignore[no-untyped-def]
        return self.model.capabilities

    @property
    def context_size(self) -> int:
        return self.model.context_size

    def count_tokens(self, text: str) -> int:
        return self.model.count_tokens(text)

    def complete(self, request: CompletionRequest) -> Completion:
        before = self.model.evaluated_tokens
        try:
            return self.model.complete(request)
        finally:
            self.evaluated.append(self.model.evaluated_tokens - before)


@pytest.mark.parametrize("n_ctx", [4096])
def test_prompts_fit_the_loaded_context(tiny: TinyModel, quickstart: Path, n_ctx: int) -> None:
    # Default settings: max_output_tokens (4096) alone fills this window.
    with LlamaCppModel(tiny.model, seed=0, n_ctx=n_ctx) as model:
        record = repair(Task(repo=quickstart), _config(model), models=[model])
    assert [a.error for a in record.attempts] == ["ParseError"] * 3, record.error
    assert record.stop_reason == "iterations"
    for attempt in record.attempts:
        assert attempt.status == "parse_error"  # random weights: never an edit
        assert attempt.usage.prompt_tokens + attempt.usage.completion_tokens <= n_ctx


def _attempt_usage(record: RunRecord, index: int) -> tuple[int, int]:
    usage = record.attempts[index - 1].usage
    return usage.prompt_tokens, usage.cached_tokens


def test_second_iteration_of_the_loop_evaluates_only_the_new_tail(
    tiny: TinyModel, quickstart: Path
) -> None:
    with LlamaCppModel(tiny.model, seed=0, n_ctx=8192) as loaded:
        model = Metered(loaded)
        # One output token: a sampled token that is never evaluated, so the engine's count
        # during a call is exactly the prompt tokens it evaluated.
        config = _config(loaded, max_output_tokens=1)
        record = repair(Task(repo=quickstart), config, models=[model])  # type: ignore[list-item]
        assert len(record.attempts) == 3
        first_prompt, first_cached = _attempt_usage(record, 1)
        assert first_cached == 0
        assert model.evaluated[0] == first_prompt
        for index in (2, 3):
            prompt, cached = _attempt_usage(record, index)
            tail = prompt - cached
            assert cached >= 0.9 * prompt, (index, prompt, cached)
            # The report is the count: exactly the tokens the engine evaluated.
            assert model.evaluated[index - 1] == tail
            # The tail is the new turn, counted with the model's tokenizer and chat template:
            # the text after the previous prompt and its reply, plus the reply's one token
            # (sampled, never evaluated).
            engine = loaded._engine
            now = _messages(record, index, quickstart)
            before = _messages(record, index - 1, quickstart)
            reply = now[-2].content
            assert now[: len(before)] == before
            rendered = engine.render([m.model_dump() for m in now])
            shared = len(engine.render([m.model_dump() for m in before])) + len(reply)
            new_turn = engine.tokenize(rendered[shared:], special=True)
            assert tail == len(new_turn) + 1
            assert len(new_turn) > loaded.count_tokens(now[-1].content)  # the feedback is in it


def _messages(record: RunRecord, index: int, repo: Path) -> tuple[Message, ...]:
    path = repo / ".patchloop" / "runs" / record.id / "attempts" / f"{index:03d}" / "prompt.json"
    data = json.loads(path.read_text())
    items = data["messages"] if isinstance(data, dict) else data
    return tuple(Message.model_validate(m) for m in items)


def test_generation_stops_at_the_request_time_limit(model: LlamaCppModel) -> None:
    for seed in range(50):
        request = CompletionRequest(
            messages=(Message(role="user", content="def total(items):"),),
            sampling=Sampling(temperature=1.0, max_tokens=500, seed=seed),
        )
        full = model.complete(request)
        if full.usage.completion_tokens > 20:  # unhurried, it writes on
            break
    else:
        pytest.fail("no seed gives a long reply; the check would prove nothing")
    before = model.evaluated_tokens
    with pytest.raises(ModelTimeout, match="time limit"):
        # Past by the time the prompt is evaluated: the stopping criterion ends it at once.
        model.complete(request.model_copy(update={"timeout_s": 1e-6}))
    # The prompt (mostly cached) and no generated token evaluated: stopped at the first one.
    assert model.evaluated_tokens - before <= full.usage.prompt_tokens
    with pytest.raises(ModelTimeout):
        model.complete(request.model_copy(update={"timeout_s": 0.0}))
    # The model is still usable afterwards.
    assert model.complete(request).text == full.text
