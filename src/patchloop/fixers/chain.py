"""Several fixers as one: their candidates concatenated or interleaved, duplicates dropped."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from patchloop.domain import Location, Patch, Task
from patchloop.protocols import Fixer

__all__ = ["ChainFixer", "default_fixer"]


class ChainFixer:
    """Candidates of ``fixers`` in turn (``interleave``: one from each, round robin), each diff
    proposed once. Each fixer's candidates stay lazy.
    """

    def __init__(
        self, fixers: Sequence[Fixer], *, interleave: bool = True, name: str = "chain"
    ) -> None:
        self.fixers = tuple(fixers)
        self.interleave = interleave
        self.name = name

    def candidates(self, task: Task, locations: Sequence[Location], root: Path) -> Iterator[Patch]:
        """Candidates of every fixer, interleaved or one fixer after the other."""
        return self._run(task, tuple(locations), Path(root))

    def _run(self, task: Task, locations: Sequence[Location], root: Path) -> Iterator[Patch]:
        seen: set[str] = set()
        streams = [f.candidates(task, locations, root) for f in self.fixers]
        if not self.interleave:
            for stream in streams:
                yield from _unique(stream, seen)
            return
        live = [_unique(s, seen) for s in streams]
        while live:
            for stream in list(live):
                patch = next(stream, None)
                if patch is None:
                    live.remove(stream)
                else:
                    yield patch


def _unique(stream: Iterator[Patch], seen: set[str]) -> Iterator[Patch]:
    for patch in stream:
        if patch.diff and patch.diff not in seen:
            seen.add(patch.diff)
            yield patch


def default_fixer() -> ChainFixer:
    """The default tier-0 fixer: repair templates interleaved with ruff's safe fixes."""
    from patchloop.fixers.ruff import RuffFixer
    from patchloop.fixers.template_fixer import TemplateFixer

    return ChainFixer([TemplateFixer(), RuffFixer()], name="default")
