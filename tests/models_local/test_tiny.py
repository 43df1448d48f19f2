"""The tiny GGUF model builder: deterministic, ASCII-only, loadable metadata, real adapters."""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import decoders

from patchloop.models._gguf import read_metadata
from patchloop.models.tiny import CHATML_TEMPLATE, TinyModel, build_tiny_model


def _files(t: TinyModel) -> list[bytes]:
    return [p.read_bytes() for p in (t.model, *t.adapters, t.tokenizer)]


def test_same_seed_builds_identical_files(tmp_path: Path) -> None:
    first = build_tiny_model(tmp_path / "a", seed=3)
    second = build_tiny_model(tmp_path / "b", seed=3)
    other = build_tiny_model(tmp_path / "c", seed=4)
    assert _files(first) == _files(second)
    assert first.model.read_bytes() != other.model.read_bytes()
    assert first.adapters[0].read_bytes() != other.adapters[0].read_bytes()


def test_builds_the_requested_number_of_adapters(tmp_path: Path) -> None:
    built = build_tiny_model(tmp_path, adapters=3)
    assert [p.name for p in built.adapters] == [
        "adapter-1.gguf",
        "adapter-2.gguf",
        "adapter-3.gguf",
    ]
    assert len({p.read_bytes() for p in built.adapters}) == 3


def test_vocabulary_is_ascii_only(tiny: TinyModel) -> None:
    vocab = json.loads(tiny.tokenizer.read_text())["model"]["vocab"]
    decoder = decoders.ByteLevel()
    texts = [decoder.decode([t]) for t in vocab if not t.startswith("<")]
    assert len(texts) > 400
    assert all(ch.isascii() for text in texts for ch in text)


def test_full_byte_vocabulary_on_request(tmp_path: Path) -> None:
    built = build_tiny_model(tmp_path, ascii_only=False, adapters=0)
    vocab = json.loads(built.tokenizer.read_text())["model"]["vocab"]
    decoder = decoders.ByteLevel()
    raw = [decoder.decode([t]) for t in vocab if len(t) == 1]
    assert any("\ufffd" in text for text in raw)  # lone bytes >= 0x80 decode to nothing valid


def test_model_metadata_carries_chat_template_and_tokenizer(tiny: TinyModel) -> None:
    meta = read_metadata(tiny.model)
    assert meta["general.architecture"] == "llama"
    assert meta["general.name"] == "patchloop-tiny"
    assert meta["tokenizer.chat_template"] == CHATML_TEMPLATE
    assert meta["tokenizer.ggml.pre"] == "gpt-2"
    assert meta["llama.context_length"] == 4096


def test_adapters_are_gguf_lora_files(tiny: TinyModel) -> None:
    for path in tiny.adapters:
        meta = read_metadata(path)
        assert meta["general.type"] == "adapter"
        assert meta["adapter.type"] == "lora"
        assert meta["adapter.lora.alpha"] == 8.0
