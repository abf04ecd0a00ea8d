"""Token buckets: a provider's send rate respected per backend, safe to share between threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """`rate` tokens per second, bursts up to `capacity`; `acquire` blocks until the tokens are there."""

    def __init__(self, rate: float, capacity: float | None = None, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.capacity = float(capacity if capacity is not None else max(1.0, rate))
        if self.capacity <= 0:
            raise ValueError("capacity must be positive")
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def try_acquire(self, tokens: float = 1.0) -> float:
        """Take `tokens` now if available (returns 0.0); else the seconds to wait, taking nothing."""
        if tokens > self.capacity:
            raise ValueError(f"cannot take {tokens} tokens from a bucket of {self.capacity}")
        with self._lock:
            self._refill()
            if self._tokens >= tokens:
                self._tokens -= tokens
                return 0.0
            return (tokens - self._tokens) / self.rate

    def acquire(self, tokens: float = 1.0) -> float:
        """Block until `tokens` are taken; returns the total seconds waited."""
        waited = 0.0
        while (wait := self.try_acquire(tokens)) > 0:
            self._sleep(wait)
            waited += wait
        return waited


def bucket_from_options(rate: float | None, burst: float | None = None) -> TokenBucket | None:
    """A bucket for a backend's `rate_limit` option (None = unlimited)."""
    return TokenBucket(rate, burst) if rate else None
