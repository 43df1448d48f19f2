"""Progress on the terminal: a live status line on a TTY, plain lines otherwise, none for JSON."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from patchloop.domain import Event

__all__ = ["Progress"]

QUIET_KINDS = frozenset({"attempt.end"})


class Progress:
    """Receives run events and shows them; use as a context manager around the run."""

    def __init__(self, *, mode: str = "auto", stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "live" if self.stream.isatty() else "plain"
        self.mode = mode
        self.console = Console(file=self.stream, stderr=True, highlight=False)
        self._live: Live | None = None
        self.phase = "starting"
        self.attempt = 0
        self.tier = ""
        self.red = 0
        self.green = 0
        self.tokens = 0
        self.cached = 0
        self.started = time.monotonic()

    def __enter__(self) -> Progress:
        if self.mode == "live":
            self._live = Live(self._status(), console=self.console, refresh_per_second=8)
            self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None

    def _status(self) -> Text:
        elapsed = time.monotonic() - self.started
        text = Text()
        text.append(f"{self.phase:<10}", style="bold cyan")
        if self.attempt:
            text.append(f" attempt {self.attempt} [{self.tier}]")
        text.append(" · ")
        text.append(f"red {self.red}", style="red")
        text.append(" / ")
        text.append(f"green {self.green}", style="green")
        text.append(f" · tokens {self.tokens:,} (cached {self.cached:,}) · {elapsed:.1f}s")
        return text

    def on_event(self, event: Event) -> None:
        """Update the view for one run event."""
        if self.mode == "json":
            return
        data = event.data
        if event.kind == "baseline.start":
            self.phase = "baseline"
        elif event.kind == "baseline.end":
            self.red = int(data.get("failing") or 0)
            self.green = int(data.get("passing") or 0)
            self.phase = "repair"
        elif event.kind == "tier.start":
            self.tier = event.tier or ""
        elif event.kind == "attempt.end":
            self.attempt = event.attempt or self.attempt
            self.tokens += int(data.get("prompt_tokens") or 0)
            self.cached += int(data.get("cached_tokens") or 0)
            failing = data.get("failing")
            if isinstance(failing, int):
                self.red = failing
        elif event.kind == "run.end":
            self.phase = str(data.get("status", "done"))
        if self._live is not None:
            self._live.update(self._status())
        elif self.mode == "plain" and self._worth_a_line(event):
            where = f" [{event.tier}]" if event.tier else ""
            line = f"[{event.t:7.2f}s] {event.kind}{where}: {event.message}"
            print(line, file=self.stream, flush=True)

    def _worth_a_line(self, event: Event) -> bool:
        if event.kind not in QUIET_KINDS:
            return True
        # Hundreds of fixer candidates would drown the log; show model attempts and the winner.
        return event.data.get("status") == "verified" or not (event.tier or "").startswith("fixers")
