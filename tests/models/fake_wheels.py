"""Tiny chunk wheels of a fake GGUF model, and the catalog entry that pins them."""

from __future__ import annotations

import hashlib
import shutil
import struct
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from patchloop.models.catalog import CatalogEntry, PartPackage

VERSION = "1.0.0"


def gguf_bytes(architecture: str, payload: int) -> bytes:
    """A GGUF header naming ``architecture``, then ``payload`` bytes that vary."""
    key, value = b"general.architecture", architecture.encode()
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, 1)
    header += struct.pack("<Q", len(key)) + key + struct.pack("<I", 8)
    header += struct.pack("<Q", len(value)) + value
    return header + bytes((i * 7 + 3) % 251 for i in range(payload))


def make_wheel(folder: Path, dist: str, number: int, data: bytes) -> Path:
    """A wheel of ``dist`` holding ``data`` as ``data/partNN.bin`` (stored, not compressed)."""
    module = dist.replace("-", "_")
    path = folder / f"{module}-{VERSION}-py3-none-any.whl"
    info = f"{module}-{VERSION}.dist-info"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{module}/__init__.py", "raise SystemExit('never run me')\n")
        archive.writestr(f"{module}/data/part{number:02d}.bin", data)
        archive.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: {VERSION}\n"
        )
        archive.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(f"{info}/RECORD", "")
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class FakeModel:
    """Wheels in ``folder`` and the catalog entry pinning them."""

    entry: CatalogEntry
    folder: Path
    data: bytes
    wheels: list[Path]


def fake_model(
    folder: Path,
    *,
    name: str = "fake-coder",
    parts: int = 3,
    architecture: str = "qwen2",
    file_architecture: str | None = None,
    sha256_override: str | None = None,
    payload: int = 5000,
) -> FakeModel:
    """Split a fake GGUF file into ``parts`` chunk wheels under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    data = gguf_bytes(file_architecture or architecture, payload)
    step = -(-len(data) // parts)
    wheels = [
        make_wheel(folder, f"{name}-part{i + 1}", i + 1, data[i * step : (i + 1) * step])
        for i in range(parts)
    ]
    entry = CatalogEntry(
        name=name,
        description="a fake model for tests",
        licence="MIT",
        architecture=architecture,
        file_name=f"{name}.gguf",
        size=len(data),
        sha256=sha256_override or hashlib.sha256(data).hexdigest(),
        packages=tuple(
            PartPackage(name=f"{name}-part{i + 1}", version=VERSION, sha256=sha256(w))
            for i, w in enumerate(wheels)
        ),
    )
    return FakeModel(entry=entry, folder=folder, data=data, wheels=wheels)


@dataclass
class CopyDownloader:
    """The pull's downloader seam over a folder of wheels: copies them, records each call.

    ``fail_on_call`` raises the given exception instead of serving that call (0-based).
    """

    folder: Path
    calls: list[list[str]] = field(default_factory=list)
    fail_on_call: dict[int, BaseException] = field(default_factory=dict)

    def download(
        self, requirements: Sequence[str], dest: Path, on_file: Callable[[str], None]
    ) -> None:
        index = len(self.calls)
        self.calls.append(list(requirements))
        if index in self.fail_on_call:
            raise self.fail_on_call[index]
        for requirement in requirements:
            dist, _, version = requirement.partition("==")
            wheel = self.folder / f"{dist.replace('-', '_')}-{version}-py3-none-any.whl"
            on_file(f"Downloading {wheel.name}")
            shutil.copy(wheel, dest / wheel.name)
