"""Progress of a model pull on stderr: a rich bar on a terminal, a few plain lines otherwise."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Literal, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

__all__ = ["TransferProgress"]

_PLAIN_STEPS = 4  # plain mode prints a stage at 25 %, 50 %, 75 % and 100 %


class TransferProgress:
    """Implements the pull's progress seam; use as a context manager."""

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self._console = Console(file=self.stream, stderr=True, highlight=False)
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._label = ""
        self._unit: Literal["parts", "bytes"] = "parts"
        self._total = 0
        self._done = 0
        self._shown = 0

    def __enter__(self) -> TransferProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.end()

    def begin(self, label: str, total: int, unit: Literal["parts", "bytes"]) -> None:
        """Start a stage of ``total`` parts or bytes."""
        self.end()
        self._label, self._total, self._unit, self._done, self._shown = label, total, unit, 0, 0
        if self.live:
            amount = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
            speed = TransferSpeedColumn() if unit == "bytes" else TextColumn("")
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=24),
                amount,
                speed,
                TimeRemainingColumn(),
                console=self._console,
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(label, total=total)
        else:
            self._print(f"{label}: {self._amount(0)}")

    def advance(self, amount: int) -> None:
        """Count ``amount`` more parts or bytes of the current stage."""
        self._done += amount
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, amount)
            return
        reached = _PLAIN_STEPS * min(self._done, self._total) // self._total if self._total else 0
        if self._label and reached > self._shown:
            self._shown = reached
            self._print(f"{self._label}: {self._amount(self._done)}")

    def end(self) -> None:
        """Close the current stage, if one is open."""
        if self._bar is not None:
            self._bar.stop()
        self._bar = self._task = None
        self._label = ""

    def note(self, text: str) -> None:
        """A line of information between stages."""
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            self._print(text)

    def _amount(self, done: int) -> str:
        if self._unit == "bytes":
            return f"{done / 1e6:,.0f}/{self._total / 1e6:,.0f} MB"
        return f"{done}/{self._total} parts"

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)
