"""A bounded output buffer that keeps the head and the tail of a stream."""

from __future__ import annotations

__all__ = ["HeadTail"]


class HeadTail:
    """Collects up to ``cap`` bytes: the first half and the most recent half.

    Past the cap, bytes in the middle are dropped and :meth:`text` puts a marker there that says
    how many. ``over`` turns true as soon as more than ``cap`` bytes arrived, which is when the
    supervisor stops the run.
    """

    def __init__(self, cap: int) -> None:
        self.cap = max(cap, 0)
        self._head_cap = self.cap // 2
        self._tail_cap = self.cap - self._head_cap
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        """Add bytes read from the stream."""
        self.total += len(chunk)
        room = self._head_cap - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self._tail += chunk
            excess = len(self._tail) - self._tail_cap
            if excess > 0:
                del self._tail[:excess]

    @property
    def over(self) -> bool:
        """True once more than ``cap`` bytes arrived."""
        return self.total > self.cap

    @property
    def dropped(self) -> int:
        """Bytes dropped from the middle."""
        return self.total - len(self._head) - len(self._tail)

    def text(self) -> str:
        """The kept bytes as UTF-8 (bad bytes replaced), with a marker where bytes were dropped."""
        if not self.dropped:
            return bytes(self._head + self._tail).decode("utf-8", errors="replace")
        head = bytes(self._head).decode("utf-8", errors="replace")
        tail = bytes(self._tail).decode("utf-8", errors="replace")
        return f"{head}\n[... {self.dropped} bytes of output dropped ...]\n{tail}"
