"""The embedded default for every channel: messages written as files (.eml, JSON lines, PDFs + manifest)."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from connectors.base import Backend, ConfigurationError, Outcome, OutgoingMessage, SendResult
from connectors.mime import build_email

_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path.resolve(), threading.Lock())


class OutboxBackend(Backend):
    """Writes each message under `directory/<channel>/`: `<id>.eml`, `messages.jsonl`, `<id>.pdf` + manifest.csv.

    Writing the same message id again overwrites its file (email, letter) — resends stay idempotent.
    """

    name: ClassVar[str] = "outbox"
    channels: ClassVar[frozenset[str]] = frozenset({"email", "sms", "mail"})
    idempotent_channels: ClassVar[frozenset[str]] = frozenset({"email", "mail"})

    def __init__(self, channel: str, directory: str | Path | None = None, from_email: str | None = None,
                 **options: Any) -> None:
        super().__init__(channel, **options)
        if not directory:
            raise ConfigurationError("outbox backend needs a `directory` option")
        self.directory = Path(directory) / channel
        self.directory.mkdir(parents=True, exist_ok=True)
        self.default_from = from_email

    @classmethod
    def options_from_settings(cls, channel: str, settings: Any) -> dict[str, Any]:
        return {"directory": str(settings.outbox_dir), "from_email": settings.from_email}

    def send(self, batch: Sequence[OutgoingMessage]) -> list[SendResult]:
        writer = {"email": self._write_email, "sms": self._write_sms, "mail": self._write_letter}[self.channel]
        results = []
        for message in batch:
            try:
                location = writer(message)
            except (OSError, ValueError) as exc:
                results.append(SendResult(message.message_id, Outcome.REJECTED, self.name, reason=str(exc)))
                continue
            parts = int(message.metadata.get("segments") or message.metadata.get("pages") or 1)
            results.append(SendResult(message.message_id, Outcome.ACCEPTED, self.name,
                                      provider_message_id=location, parts=parts))
        return results

    def _write_email(self, message: OutgoingMessage) -> str:
        path = self.directory / f"{message.message_id}.eml"
        path.write_bytes(bytes(build_email(message, default_from=self.default_from)))
        return str(path)

    def _write_sms(self, message: OutgoingMessage) -> str:
        path = self.directory / "messages.jsonl"
        record = {"message_id": message.message_id, "to": message.to, "text": message.text,
                  "encoding": message.metadata.get("encoding"), "segments": message.metadata.get("segments"),
                  "categories": list(message.categories)}
        with _lock_for(path), path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        return f"{path}#{message.message_id}"

    def _write_letter(self, message: OutgoingMessage) -> str:
        if not message.attachments:
            raise ValueError("letter has no PDF attachment")
        path = self.directory / f"{message.message_id}.pdf"
        path.write_bytes(message.attachments[0].content)
        manifest = self.directory / "manifest.csv"
        with _lock_for(manifest):
            new = not manifest.exists()
            with manifest.open("a", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle)
                if new:
                    writer.writerow(["message_id", "contact", "file", "pages", "address"])
                writer.writerow([message.message_id, message.to, path.name, message.metadata.get("pages", ""),
                                 " / ".join(message.address_lines)])
        return str(path)
