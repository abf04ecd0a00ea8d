"""A small in-process per-key rate limiter (fixed one-minute windows) for public form posts."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    """At most `limit` hits per key per `window` seconds."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._hits: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if len(self._hits) > 50_000:  # forget finished windows so memory stays flat
                self._hits = {k: v for k, v in self._hits.items() if now - v[0] < self.window}
            started, count = self._hits.get(key, (now, 0))
            if now - started >= self.window:
                started, count = now, 0
            if count >= self.limit:
                return False
            self._hits[key] = (started, count + 1)
            return True
