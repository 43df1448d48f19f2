"""Stable prompt prefixes saved by one loaded model and loaded by the next (tiny model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.config import ModelSettings
from patchloop.domain import CompletionRequest, Message, Sampling
from patchloop.models.llamacpp import LlamaCppModel
from patchloop.models.tiny import TinyModel

SYSTEM = "Rules for every task. " * 30
HEAD = "# Repository files\n\n" + "".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(40))


def ask(task: str, *, points: bool = True) -> CompletionRequest:
    return CompletionRequest(
        messages=(
            Message(role="system", content=SYSTEM),
            Message(role="user", content=HEAD + task),
        ),
        sampling=Sampling(max_tokens=8, temperature=0.0),
        cache_points=((0, len(SYSTEM)), (1, len(HEAD))) if points else (),
    )


def load(tiny: TinyModel, megabytes: int = 64) -> LlamaCppModel:
    return LlamaCppModel(tiny.model, n_ctx=4096, settings=ModelSettings(prefix_cache_mb=megabytes))


def test_the_next_run_loads_the_saved_prefix_and_answers_the_same(
    tiny: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATCHLOOP_KV_CACHE", str(tmp_path / "kv"))
    with load(tiny) as first:
        cold = first.complete(ask("Task: f3 is wrong."))
        assert first.prefix_store is not None
        assert first.prefix_store.saves == 2  # after the rules, after the files
    assert cold.usage.cached_tokens == 0
    with load(tiny) as second:
        warm = second.complete(ask("Task: f7 is wrong, fix it."))
        assert second.prefix_store is not None
        assert second.prefix_store.loads == 1
    # Only the task's tokens (and the chat template's) were evaluated again.
    assert warm.usage.cached_tokens >= cold.usage.prompt_tokens - 30
    with load(tiny, megabytes=0) as plain:
        assert plain.prefix_store is None
        reference = plain.complete(ask("Task: f7 is wrong, fix it."))
    assert reference.usage.cached_tokens == 0
    assert warm.text == reference.text  # the loaded state is the evaluated one


def test_another_prefix_loads_nothing(
    tiny: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATCHLOOP_KV_CACHE", str(tmp_path / "kv"))
    with load(tiny) as first:
        first.complete(ask("Task: one."))
    changed = ask("Task: one.").model_copy(
        update={
            "messages": (
                Message(role="system", content=SYSTEM.replace("Rules", "Norms", 1)),
                Message(role="user", content=HEAD + "Task: one."),
            )
        }
    )
    with load(tiny) as second:
        reply = second.complete(changed)
        assert second.prefix_store is not None
        assert second.prefix_store.loads == 0
    assert reply.usage.cached_tokens == 0


def test_without_cache_points_nothing_is_saved(
    tiny: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATCHLOOP_KV_CACHE", str(tmp_path / "kv"))
    with load(tiny) as model:
        model.complete(ask("Task: two.", points=False))
    assert not list(tmp_path.glob("kv/*.kv"))
