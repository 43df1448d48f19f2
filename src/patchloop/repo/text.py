"""Source text exactly as its file holds it: declared encodings and line endings kept.

A Python file may declare its encoding (PEP 263: ``# -*- coding: latin-1 -*-`` on line 1 or 2,
or a UTF-8 byte order mark); every other file is UTF-8. Text is decoded without newline
translation, so ``\\r\\n``, mixed endings and a missing final newline survive a round trip, and
a byte order mark stays the first character of the text (as the edit engine keeps it).
:func:`encode_source` writes text back in the encoding its own first lines declare.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import tokenize
from pathlib import Path

__all__ = ["SourceEncodingError", "decode_source", "encode_source", "read_source", "write_source"]

#: PEP 263's cookie, on one of the first two lines.
_COOKIE = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.ASCII)
_UTF8 = frozenset({"utf-8", "utf_8", "utf-8-sig"})


class SourceEncodingError(ValueError):
    """Text that cannot be decoded, or encoded in the encoding its file declares."""


def _is_python(path: str | os.PathLike[str]) -> bool:
    return os.fspath(path).endswith((".py", ".pyi"))


def _declared(path: str | os.PathLike[str], data: bytes) -> str:
    if not _is_python(path):
        return "utf-8"
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:  # an unknown or contradictory cookie
        raise SourceEncodingError(f"{os.fspath(path)}: {exc}") from exc
    # The byte order mark stays part of the text (the edit engine keeps it there too).
    return "utf-8" if encoding == "utf-8-sig" else encoding


def decode_source(path: str | os.PathLike[str], data: bytes) -> str:
    """The text of ``data`` as the content of ``path``, in its declared encoding."""
    encoding = _declared(path, data)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise SourceEncodingError(f"{os.fspath(path)} is not valid {encoding}: {exc}") from exc


def _cookie(text: str) -> str | None:
    for line in text.lstrip("\ufeff").splitlines()[:2]:
        match = _COOKIE.match(line)
        if match:
            return match.group(1)
        if line.strip() and not line.lstrip().startswith("#"):
            break  # the cookie must come before any code
    return None


def encode_source(path: str | os.PathLike[str], text: str) -> bytes:
    """``text`` as the bytes of ``path``: in the encoding its own first lines declare."""
    name = _cookie(text) if _is_python(path) else None
    encoding = "utf-8"
    if name is not None:
        try:
            encoding = codecs.lookup(name).name
        except LookupError as exc:
            raise SourceEncodingError(
                f"{os.fspath(path)} declares an unknown encoding {name!r}"
            ) from exc
    if encoding in _UTF8:
        encoding = "utf-8"
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        raise SourceEncodingError(
            f"{os.fspath(path)} declares {encoding}, which cannot hold {exc.object[exc.start]!r}"
        ) from exc


def read_source(file: Path) -> str:
    """The text of ``file`` (see :func:`decode_source`); ``OSError`` when unreadable."""
    return decode_source(file, file.read_bytes())


def write_source(file: Path, text: str) -> None:
    """Write ``text`` to ``file`` in its declared encoding, line endings as they are."""
    file.write_bytes(encode_source(file, text))
