"""Reads the scalar metadata of a GGUF file's header, to check a model file before loading it.

Pure Python on purpose: it runs before the native engine is imported, so that a missing file, a
file that is not GGUF, or a LoRA adapter given as a model each get a clear error of their own.
Arrays (the vocabulary, merges) are skipped, not read.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

__all__ = ["GGUF_MAGIC", "GgufError", "read_metadata"]

GGUF_MAGIC = b"GGUF"

Scalar = str | int | float | bool

# GGUF value types: id -> struct format of one value (strings and arrays are handled apart).
_FIXED = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
_MAX_KEYS = 1 << 20
#: Longest string read from a header (chat templates run to tens of KiB); a damaged or hostile
#: length must not make the reader allocate gigabytes.
MAX_STRING = 16 << 20
#: Deepest nesting of arrays skipped.
_MAX_DEPTH = 16


class GgufError(ValueError):
    """The file is not a GGUF file or its header is damaged."""


def _read(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise GgufError("the header ends early (truncated file)")
    return data


def _unpack(f: BinaryIO, fmt: str) -> int | float | bool:
    value: int | float | bool = struct.unpack(fmt, _read(f, struct.calcsize(fmt)))[0]
    return value


def _length(f: BinaryIO) -> int:
    (length,) = struct.unpack("<Q", _read(f, 8))
    if length > MAX_STRING:
        raise GgufError(f"a header string claims {length} bytes (damaged header)")
    return int(length)


def _string(f: BinaryIO) -> str:
    return _read(f, _length(f)).decode("utf-8", errors="replace")


def _skip_array(f: BinaryIO, depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        raise GgufError("arrays nested too deeply (damaged header)")
    (kind,) = struct.unpack("<I", _read(f, 4))
    (count,) = struct.unpack("<Q", _read(f, 8))
    if kind in _FIXED:
        f.seek(struct.calcsize(_FIXED[kind]) * count, 1)
    elif kind == _STRING:
        for _ in range(count):
            f.seek(_length(f), 1)
    elif kind == _ARRAY:
        for _ in range(count):
            _skip_array(f, depth + 1)
    else:
        raise GgufError(f"unknown array element type {kind}")


def read_metadata(path: Path) -> dict[str, Scalar]:
    """Scalar key/values of the GGUF header at ``path``.

    Raises :class:`GgufError` for a file that is not GGUF, ``OSError`` when it cannot be read.
    """
    with path.open("rb") as f:
        magic = f.read(4)
        if magic != GGUF_MAGIC:
            raise GgufError(f"it starts with {magic!r}, not {GGUF_MAGIC!r}")
        version, _n_tensors, n_kv = struct.unpack("<IQQ", _read(f, 20))
        if not 1 <= version < 1 << 16 or n_kv > _MAX_KEYS:
            raise GgufError(f"unsupported GGUF header (version {version}, {n_kv} keys)")
        meta: dict[str, Scalar] = {}
        for _ in range(n_kv):
            key = _string(f)
            (kind,) = struct.unpack("<I", _read(f, 4))
            if kind in _FIXED:
                meta[key] = _unpack(f, _FIXED[kind])
            elif kind == _STRING:
                meta[key] = _string(f)
            elif kind == _ARRAY:
                _skip_array(f)
            else:
                raise GgufError(f"unknown value type {kind} for key {key!r}")
        return meta
