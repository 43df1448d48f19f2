"""Source text round trips byte for byte: declared encodings and line endings kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.repo.text import (
    SourceEncodingError,
    decode_source,
    encode_source,
    read_source,
    write_source,
)

LATIN = '# -*- coding: latin-1 -*-\r\nNAME = "café"\nX = 1'


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("m.py", LATIN.encode("latin-1")),
        ("m.py", "#!/bin/python\n# vim: set fileencoding=cp1252 :\nS = '€'\n".encode("cp1252")),
        ("m.py", "\ufeffX = 'ü'\r\n".encode()),
        ("m.py", b"X = 1\r\nY = 2\nZ = 3"),
        ("notes.txt", "ü\r\n".encode()),
    ],
)
def test_round_trip_is_byte_exact(tmp_path: Path, path: str, data: bytes) -> None:
    file = tmp_path / path
    file.write_bytes(data)
    text = read_source(file)
    assert encode_source(path, text) == data
    write_source(file, text)
    assert file.read_bytes() == data


def test_declared_encoding_is_used() -> None:
    assert decode_source("m.py", LATIN.encode("latin-1")) == LATIN
    assert "\ufeff" in decode_source("m.py", "\ufeffX = 1\n".encode())


def test_a_cookie_after_code_is_no_cookie() -> None:
    text = 'X = 1\n# coding: latin-1\nS = "é"\n'
    assert encode_source("m.py", text) == text.encode()


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(SourceEncodingError, match="encoding"):
        decode_source("m.py", b"X = '\xe9'\n")
    with pytest.raises(SourceEncodingError):
        decode_source("m.py", b"# coding: no-such-codec\n")
    with pytest.raises(SourceEncodingError, match="cannot hold"):
        encode_source("m.py", "# coding: latin-1\nS = '€'\n")
