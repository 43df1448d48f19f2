"""LoRA adapters switched on the loaded model: they change the logits, and switching back
restores the base model exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.config import ModelSettings
from patchloop.domain import CompletionRequest, Message, Sampling
from patchloop.errors import BadRequest
from patchloop.models.llamacpp import LlamaCppModel
from patchloop.models.tiny import TinyModel

TEXT = "def total(items, discount=0.0):\n    return"


def _gap(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


def test_adapters_change_logits_and_switching_back_is_exact(
    model: LlamaCppModel, tiny: TinyModel
) -> None:
    one, two = (str(p) for p in tiny.adapters)
    base = model.next_token_logits(TEXT)
    first = model.next_token_logits(TEXT, adapter=one)
    second = model.next_token_logits(TEXT, adapter=two)
    assert _gap(base, first) > 0.05
    assert _gap(base, second) > 0.05
    assert _gap(first, second) > 0.05
    assert model.next_token_logits(TEXT) == base
    assert model.next_token_logits(TEXT, adapter=one) == first
    assert model.next_token_logits(TEXT) == base


def test_adapters_change_generated_text(model: LlamaCppModel, tiny: TinyModel) -> None:
    def sample(adapter: str | None) -> str:
        request = CompletionRequest(
            messages=(Message(role="user", content="Fix total."),),
            sampling=Sampling(temperature=1.0, max_tokens=40, seed=7),
            adapter=adapter,
        )
        return model.complete(request).text

    base = sample(None)
    assert sample(str(tiny.adapters[0])) != base
    assert sample(None) == base


def test_adapter_by_name_path_or_file_next_to_the_model(tiny: TinyModel) -> None:
    path = tiny.adapters[1]
    with LlamaCppModel(tiny.model, adapters={"fix-lora": path}) as loaded:
        base = loaded.next_token_logits(TEXT)
        by_path = loaded.next_token_logits(TEXT, adapter=str(path))
        assert _gap(base, by_path) > 0.05
        # Same file, so no switch: only the last token is evaluated again (float noise only).
        for name in ("fix-lora", "adapter-2", "adapter-2.gguf"):
            assert _gap(loaded.next_token_logits(TEXT, adapter=name), by_path) < 1e-5


def test_settings_adapter_applies_when_the_request_names_none(tiny: TinyModel) -> None:
    settings = ModelSettings(adapter=str(tiny.adapters[0]))
    request = CompletionRequest(
        messages=(Message(role="user", content="Fix total."),),
        sampling=Sampling(temperature=1.0, max_tokens=40, seed=7),
    )
    explicit = request.model_copy(update={"adapter": str(tiny.adapters[0])})
    with (
        LlamaCppModel(tiny.model, settings=settings) as with_default,
        LlamaCppModel(tiny.model) as plain,
    ):
        assert with_default.complete(request).text == plain.complete(explicit).text
        assert plain.complete(request).text != plain.complete(explicit).text


def test_unknown_adapter_is_a_bad_request(model: LlamaCppModel) -> None:
    with pytest.raises(BadRequest, match="unknown adapter 'nope'") as info:
        model.next_token_logits(TEXT, adapter="nope")
    assert "GGUF LoRA file" in str(info.value)


def test_model_file_as_adapter_is_a_bad_request(model: LlamaCppModel, tiny: TinyModel) -> None:
    with pytest.raises(BadRequest, match="is not a LoRA adapter"):
        model.next_token_logits(TEXT, adapter=str(tiny.model))


def test_damaged_adapter_is_a_bad_request_and_leaves_the_model_usable(
    model: LlamaCppModel, tiny: TinyModel, tmp_path: Path
) -> None:
    base = model.next_token_logits(TEXT)
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(tiny.adapters[0].read_bytes()[:-64])  # tensor data cut short
    with pytest.raises(BadRequest, match="could not apply adapter"):
        model.next_token_logits(TEXT, adapter=str(broken))
    assert _gap(model.next_token_logits(TEXT), base) < 1e-5
