"""The GGUF header reader: scalar metadata, and bounded reads of whatever a file claims."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from patchloop.models._gguf import MAX_STRING, GgufError, read_metadata


def _str(text: bytes, length: int | None = None) -> bytes:
    return struct.pack("<Q", len(text) if length is None else length) + text


def _header(*pairs: bytes) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", 3, 0, len(pairs)) + b"".join(pairs)


def test_scalars_are_read_and_arrays_skipped(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    strings = struct.pack("<IQ", 8, 2) + _str(b"a") + _str(b"bc")
    path.write_bytes(
        _header(
            _str(b"general.architecture") + struct.pack("<I", 8) + _str(b"llama"),
            _str(b"llama.context_length") + struct.pack("<II", 4, 4096),
            _str(b"tokenizer.tokens") + struct.pack("<I", 9) + strings,
        )
    )
    assert read_metadata(path) == {"general.architecture": "llama", "llama.context_length": 4096}


@pytest.mark.parametrize("where", ["key", "value", "array"])
def test_a_huge_string_length_is_a_damaged_header(tmp_path: Path, where: str) -> None:
    huge = 1 << 62
    path = tmp_path / "m.gguf"
    if where == "key":
        pair = _str(b"k", huge)
    elif where == "value":
        pair = _str(b"k") + struct.pack("<I", 8) + _str(b"v", huge)
    else:
        pair = _str(b"k") + struct.pack("<I", 9) + struct.pack("<IQ", 8, 1) + _str(b"", huge)
    path.write_bytes(_header(pair))
    with pytest.raises(GgufError, match="damaged header"):
        read_metadata(path)


def test_a_string_just_under_the_limit_reads(tmp_path: Path) -> None:
    assert MAX_STRING >= 1 << 20  # chat templates run to tens of KiB
    text = b"x" * (1 << 16)
    path = tmp_path / "m.gguf"
    path.write_bytes(_header(_str(b"tokenizer.chat_template") + struct.pack("<I", 8) + _str(text)))
    assert read_metadata(path)["tokenizer.chat_template"] == text.decode()


def test_deeply_nested_arrays_are_a_damaged_header(tmp_path: Path) -> None:
    nested = struct.pack("<IQ", 9, 1) * 5000 + struct.pack("<IQ", 4, 0)
    path = tmp_path / "m.gguf"
    path.write_bytes(_header(_str(b"k") + struct.pack("<I", 9) + nested))
    with pytest.raises(GgufError, match="nested too deeply"):
        read_metadata(path)
