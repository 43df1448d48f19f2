"""Saved activations of stable prompt prefixes, shared by every run on this machine.

The prompt of a repair opens with text that repeats across runs: the rules and format
instructions (the same for every task), then the repository map and files (the same for every
run on one repository state). The embedded engine saves the KV cache of such a prefix after
evaluating it once, keyed by the model and the prefix's exact token ids, so the next ``fix`` or
eval task that opens with the same tokens loads it instead of evaluating it again.

Entries are files ``<key>.kv`` under the store's directory (``$PATCHLOOP_KV_CACHE`` or
``$XDG_CACHE_HOME/patchloop/kv``), written atomically and evicted least recently used first
once the directory passes its size limit. A key is a SHA-256 of the model's identity (path,
size, modification time), the adapter and the token ids, so a changed model or a different
prefix can never load a wrong state; llama.cpp also checks the data's shape when it loads it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from array import array
from collections.abc import Sequence
from pathlib import Path

__all__ = ["PrefixStore", "default_store_dir"]

log = logging.getLogger("patchloop.models.llamacpp")

#: Prefixes shorter than this are quicker to evaluate than to load.
MIN_TOKENS = 64


def default_store_dir() -> Path:
    """``$PATCHLOOP_KV_CACHE``, else ``$XDG_CACHE_HOME/patchloop/kv`` (``~/.cache`` default)."""
    env = os.environ.get("PATCHLOOP_KV_CACHE")
    if env:
        return Path(env).expanduser()
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "patchloop" / "kv"


def model_identity(path: Path) -> str:
    """What a saved state depends on: the model file, as it is now."""
    stat = path.stat()
    return f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}"


class PrefixStore:
    """Saved KV states of prompt prefixes for one loaded model, bounded in bytes."""

    def __init__(self, directory: Path, identity: str, *, max_bytes: int) -> None:
        self.directory = directory
        self.identity = identity
        self.max_bytes = max_bytes
        self.loads = 0
        self.saves = 0

    def key(self, tokens: Sequence[int], adapter: str | None) -> str:
        """The entry name of ``tokens`` under ``adapter`` for this model."""
        digest = hashlib.sha256()
        digest.update(self.identity.encode("utf-8", "surrogateescape"))
        digest.update(b"\0" + (adapter or "").encode("utf-8", "surrogateescape") + b"\0")
        digest.update(array("i", tokens).tobytes())
        return digest.hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.kv"

    def has(self, key: str) -> bool:
        """Whether a state is saved under ``key``."""
        return self._path(key).is_file()

    def load(self, key: str) -> bytes | None:
        """The state saved under ``key`` (its use time refreshed), or ``None``."""
        path = self._path(key)
        try:
            data = path.read_bytes()
            os.utime(path)
        except OSError:
            return None
        self.loads += 1
        return data

    def save(self, key: str, data: bytes) -> None:
        """Keep ``data`` under ``key``; never fails the caller (the cache is an optimisation)."""
        if len(data) > self.max_bytes:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, self._path(key))
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            self.saves += 1
            self._evict()
        except OSError as exc:
            log.debug("could not save a prefix state in %s: %s", self.directory, exc)

    def _evict(self) -> None:
        entries = []
        for path in self.directory.glob("*.kv"):
            try:
                stat = path.stat()
            except OSError:
                continue
            entries.append((stat.st_mtime_ns, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
