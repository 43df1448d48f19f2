"""Progress on the terminal: a live status line on a TTY, plain lines otherwise, none for JSON.

Plain lines and the library's warnings (``patchloop: warning: ...``) share stderr: a run event
that says what a warning already said (a test file that cannot be collected) is shown once.
"""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from patchloop.domain import Event
from patchloop.store.redact import scrub

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
        self._warned: set[str] = set()
        """Texts of the warnings shown during the run."""
        self._lines: set[str] = set()
        """Messages of the event lines shown during the run."""
        self._handlers: list[logging.Handler] = []

    def __enter__(self) -> Progress:
        if self.mode == "live":
            self._live = Live(self._status(), console=self.console, refresh_per_second=8)
            self._live.__enter__()
        elif self.mode == "plain":
            # The handlers that print the library's warnings skip what a line already said.
            self._handlers = list(logging.getLogger("patchloop").handlers)
            for handler in self._handlers:
                handler.addFilter(self._once)
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
        for handler in self._handlers:
            handler.removeFilter(self._once)
        self._handlers = []

    def _once(self, record: logging.LogRecord) -> bool:
        """Let a warning through unless an event line already said the same."""
        if record.levelno < logging.WARNING:
            return True
        text = scrub(record.getMessage())
        if text in self._lines:
            return False
        self._warned.add(text)
        return True

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
            if event.message in self._warned:
                return  # a warning said it already
            self._lines.add(event.message)
            where = f" [{event.tier}]" if event.tier else ""
            line = f"[{event.t:7.2f}s] {event.kind}{where}: {event.message}"
            print(line, file=self.stream, flush=True)

    def _worth_a_line(self, event: Event) -> bool:
        if event.kind not in QUIET_KINDS:
            return True
        # Hundreds of fixer candidates would drown the log; show model attempts and the winner.
        return event.data.get("status") == "verified" or not (event.tier or "").startswith("fixers")
