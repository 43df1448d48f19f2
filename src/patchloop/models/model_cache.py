"""The model cache on disk: pulled files, their verification stamps, resumable pull state.

Layout under the cache root::

    <file_name>.gguf              a pulled model, moved in only after it was verified
    .verified/<file_name>.json    size, mtime and sha256 of the file when it was verified
    .pull/<name>/wheels/          chunk wheels downloaded and checked so far (kept for a resume)
    .pull/<name>/incoming/        pip's download directory (emptied before each download)
    .pull/<name>/<file>.partial   the file being assembled (deleted on any failure)

A file counts as pulled only while its stamp matches it, so listing and resolving never hash
gigabytes; ``patchloop models pull`` re-verifies a file whose stamp is missing or stale.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from patchloop.models.catalog import CatalogEntry

__all__ = ["ListedModel", "ModelCache", "ModelStatus", "Stamp", "list_models"]

State = Literal["pulled", "not pulled", "unverified", "wrong size"]


class Stamp(BaseModel):
    """Proof that a file was verified, valid while its size and mtime are unchanged."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    sha256: str
    size: int
    mtime_ns: int
    verified_at: str


class ModelStatus(BaseModel):
    """Where a catalog model stands in one cache."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    state: State
    path: Path
    size: int
    """Bytes of the file on disk, 0 when there is none."""
    wheels_downloaded: int
    """Chunk wheels kept from an unfinished pull."""

    @property
    def pulled(self) -> bool:
        """The file is there and matches what was verified."""
        return self.state == "pulled"


@dataclass(frozen=True)
class ModelCache:
    """One model cache directory."""

    root: Path

    def path(self, entry: CatalogEntry) -> Path:
        """Where ``entry``'s file lives once pulled."""
        return self.root / entry.file_name

    def stamp_path(self, entry: CatalogEntry) -> Path:
        """The verification stamp of ``entry``'s file."""
        return self.root / ".verified" / f"{entry.file_name}.json"

    def work_dir(self, entry: CatalogEntry) -> Path:
        """State of an unfinished pull of ``entry``."""
        return self.root / ".pull" / entry.name

    def wheels_dir(self, entry: CatalogEntry) -> Path:
        """Downloaded, checked chunk wheels of ``entry``."""
        return self.work_dir(entry) / "wheels"

    def wheel_path(self, entry: CatalogEntry, index: int) -> Path:
        """The checked wheel of part ``index`` (0-based)."""
        return self.wheels_dir(entry) / f"{entry.packages[index].key}.whl"

    def read_stamp(self, entry: CatalogEntry) -> Stamp | None:
        """The stamp, or ``None`` when there is none or it is unreadable."""
        try:
            return Stamp.model_validate_json(self.stamp_path(entry).read_bytes())
        except (OSError, ValidationError):
            return None

    def write_stamp(self, entry: CatalogEntry) -> None:
        """Record that ``entry``'s file, as it is now, has the catalog's size and sha256."""
        info = self.path(entry).stat()
        stamp = Stamp(
            name=entry.name,
            sha256=entry.sha256,
            size=info.st_size,
            mtime_ns=info.st_mtime_ns,
            verified_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        target = self.stamp_path(entry)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(stamp.model_dump(), indent=2) + "\n")
        os.replace(tmp, target)

    def status(self, entry: CatalogEntry) -> ModelStatus:
        """Whether ``entry`` is pulled here, without reading the file's contents."""
        path = self.path(entry)
        wheels = sum(1 for i in range(entry.parts) if self.wheel_path(entry, i).is_file())
        try:
            info = path.stat()
        except OSError:
            return ModelStatus(
                name=entry.name, state="not pulled", path=path, size=0, wheels_downloaded=wheels
            )
        stamp = self.read_stamp(entry)
        state: State
        if info.st_size != entry.size:
            state = "wrong size"
        elif (
            stamp is not None
            and stamp.sha256 == entry.sha256
            and stamp.size == info.st_size
            and stamp.mtime_ns == info.st_mtime_ns
        ):
            state = "pulled"
        else:
            state = "unverified"
        return ModelStatus(
            name=entry.name, state=state, path=path, size=info.st_size, wheels_downloaded=wheels
        )


class ListedModel(BaseModel):
    """One line of ``patchloop models list``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    state: State
    pulled: bool
    path: Path
    size: int
    """Bytes of the assembled file, per the catalog."""
    size_on_disk: int
    sha256: str
    architecture: str
    licence: str
    description: str
    parts: int
    wheels_downloaded: int
    pull_command: str


def list_models(cache: ModelCache, entries: Iterable[CatalogEntry]) -> list[ListedModel]:
    """Every catalog model with its state in ``cache``."""
    listed = []
    for entry in entries:
        status = cache.status(entry)
        listed.append(
            ListedModel(
                name=entry.name,
                state=status.state,
                pulled=status.pulled,
                path=status.path,
                size=entry.size,
                size_on_disk=status.size,
                sha256=entry.sha256,
                architecture=entry.architecture,
                licence=entry.licence,
                description=entry.description,
                parts=entry.parts,
                wheels_downloaded=status.wheels_downloaded,
                pull_command=f"patchloop models pull {entry.name}",
            )
        )
    return listed
