"""The pure-Python GGUF header reader that checks model files before loading them."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.models._gguf import GgufError, read_metadata
from patchloop.models.tiny import TinyModel


def test_reads_scalars_after_the_skipped_token_arrays(tiny: TinyModel) -> None:
    meta = read_metadata(tiny.model)
    # The chat template is written after the token list and merges: reading it proves the
    # arrays were skipped correctly.
    assert "<|im_start|>" in str(meta["tokenizer.chat_template"])
    assert meta["tokenizer.ggml.eos_token_id"] == 4
    assert "tokenizer.ggml.tokens" not in meta


def test_rejects_a_file_that_is_not_gguf(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_text("not a model at all")
    with pytest.raises(GgufError, match="not b'GGUF'"):
        read_metadata(path)


def test_rejects_a_truncated_header(tiny: TinyModel, tmp_path: Path) -> None:
    path = tmp_path / "cut.gguf"
    path.write_bytes(tiny.model.read_bytes()[:200])
    with pytest.raises(GgufError, match="truncated"):
        read_metadata(path)
