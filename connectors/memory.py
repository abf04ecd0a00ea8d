"""The in-memory backend for tests: keeps what it was asked to send, can be told to fail."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from connectors.base import Backend, Outcome, OutgoingMessage, SendResult


class MemoryBackend(Backend):
    """Accepts everything (or rejects the addresses in `reject`), recording each message in `sent`."""

    name: ClassVar[str] = "memory"
    channels: ClassVar[frozenset[str]] = frozenset({"email", "sms", "mail"})

    def __init__(self, channel: str, reject: Sequence[str] = (), **options: Any) -> None:
        super().__init__(channel, **options)
        self.reject = set(reject)
        self.sent: list[OutgoingMessage] = []

    def send(self, batch: Sequence[OutgoingMessage]) -> list[SendResult]:
        results = []
        for message in batch:
            if message.to in self.reject:
                results.append(SendResult(message.message_id, Outcome.REJECTED, self.name, reason="rejected"))
                continue
            self.sent.append(message)
            results.append(
                SendResult(message.message_id, Outcome.ACCEPTED, self.name, provider_message_id=message.message_id)
            )
        return results
