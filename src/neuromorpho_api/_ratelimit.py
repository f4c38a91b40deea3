"""A small thread-safe token bucket for polite API calls."""

from __future__ import annotations

import math
import threading
import time
from typing import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """At most ``rate`` calls per second on average, with bursts of up to ``burst`` calls.

    :meth:`acquire` blocks until a call may go. Waiting threads reserve their slot under the
    lock and sleep outside it, so they leave in order without busy-waiting.
    """

    def __init__(
        self,
        rate: float,
        burst: int = 2,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not (0 < rate < math.inf):
            raise ValueError(f"rate must be a positive number of calls per second, got {rate!r}")
        if burst < 1 or int(burst) != burst:
            raise ValueError(f"burst must be a positive int, got {burst!r}")
        self.rate = float(rate)
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._stamp = clock()

    def acquire(self) -> float:
        """Wait for a slot; return the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate!r}, burst={self.burst!r})"
