"""The server's background applier: stored feedback is applied shortly after acceptance, off the request path."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from core.settings import Settings
from feedback.apply import FeedbackSummary, apply_all

log = logging.getLogger("relance.web.applier")


class Applier:
    """A daemon thread applying pending requests when notified (after a short gathering delay) or periodically."""

    def __init__(self, engine: Engine, settings: Settings, *, interval: float = 2.0, delay: float = 0.2,
                 limit: int = 10) -> None:
        self.engine, self.settings = engine, settings
        self.interval, self.delay, self.limit = interval, delay, limit
        self.total = FeedbackSummary()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="relance-feedback-applier", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def notify(self) -> None:
        """Something was stored: apply it soon."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            if self._stop.is_set():
                break
            self._stop.wait(self.delay)  # let a burst gather into one batch
            self._wake.clear()
            try:
                self.total.add(apply_all(self.engine, self.settings, limit=self.limit))
            except Exception:  # noqa: BLE001 - the loop must survive; the rows stay pending and are retried
                log.exception("applying feedback failed; will retry")
        # Last pass so nothing accepted before shutdown waits for the next start.
        try:
            self.total.add(apply_all(self.engine, self.settings, limit=self.limit, max_batches=20))
        except Exception:  # noqa: BLE001
            log.exception("final feedback pass failed")
