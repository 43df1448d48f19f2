"""``models check llamacpp:...`` for real: a generation in a child, tiny and named models."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.config import ModelSettings
from patchloop.models._gguf import read_metadata
from patchloop.models.catalog import CATALOG, model_cache_dir
from patchloop.models.check import check_model
from patchloop.models.local_check import LocalCheck
from patchloop.models.model_cache import ModelCache
from patchloop.models.pull import pull_model
from patchloop.models.tiny import TinyModel

pytestmark = pytest.mark.slow


def test_the_check_generates_in_a_child_and_measures(tiny: TinyModel, tmp_path: Path) -> None:
    result = check_model(
        f"llamacpp:{tiny.model}", ModelSettings(n_ctx=1024), cache_path=tmp_path / "caps.json"
    )
    assert isinstance(result, LocalCheck)
    assert result.reachable, result.errors
    assert result.signal is None
    assert result.load_s is not None
    assert result.prompt_tokens > 0
    assert result.generated_tokens > 0
    assert result.prefill_tok_s
    assert result.generation_tok_s
    assert result.cached_tokens > 0  # the repeated chat came from the KV cache
    assert result.constrained_output is True
    assert (tmp_path / "caps.json").is_file()


@pytest.fixture
def pulled_small_model(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real 0.5B model from the user's model cache (``scripts/setup all`` pulls it)."""
    cache = ModelCache(model_cache_dir())
    entry = CATALOG.get("qwen2.5-coder-0.5b")
    if not cache.status(entry).pulled:
        pytest.skip(f"qwen2.5-coder-0.5b is not pulled into {cache.root}")
    monkeypatch.setenv("PATCHLOOP_MODEL_CACHE", str(cache.root))
    return cache.root


def test_the_real_small_model_verifies_and_runs(pulled_small_model: Path) -> None:
    entry = CATALOG.get("qwen2.5-coder-0.5b")
    result = pull_model(entry, ModelCache(pulled_small_model), verify=True)
    assert result.action == "verified in place"
    assert read_metadata(result.path)["general.architecture"] == "qwen2"
    check = check_model(
        "llamacpp:qwen2.5-coder-0.5b", ModelSettings(n_ctx=2048, n_threads=2), record=False
    )
    assert isinstance(check, LocalCheck)
    assert check.reachable, (check.errors, check.hint, check.stderr_tail)
    assert check.constrained_output is True
    assert check.path == str(result.path)
