"""Request rate per API key: a token bucket per key, refilled continuously."""

from __future__ import annotations

import math
import threading
import time

from patchloop.errors import TooManyRequests

__all__ = ["RateLimiter"]


class RateLimiter:
    """``rate_per_minute`` requests per key on average, ``burst`` at once."""

    def __init__(self, rate_per_minute: float, burst: int) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        """Spend one request of ``key``; ``TooManyRequests`` with the wait when none is left."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait = math.ceil((1.0 - tokens) / self.rate)
                raise TooManyRequests(
                    "too many requests with this API key",
                    retry_after=wait,
                    hint=f"retry after {wait}s",
                )
            self._buckets[key] = (tokens - 1.0, now)
