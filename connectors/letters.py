"""Postal mail for a mailing house: per batch one merged print-ready PDF in manifest order + a manifest CSV."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from connectors.base import Backend, ConfigurationError, Outcome, OutgoingMessage, Rejection, SendResult
from core import clock

MANIFEST_COLUMNS = ("piece_id", "contact_id", "address_lines", "postcode", "country", "first_page", "last_page",
                    "pages", "postage_class", "piece_sha256", "batch_pdf", "batch_sha256")


class LettersBackend(Backend):
    """Options: directory (default: outbox/mail-batches), postage_class (lettre-verte, lettre-prioritaire...)."""

    name: ClassVar[str] = "letters"
    channels: ClassVar[frozenset[str]] = frozenset({"mail"})
    # A piece already in a manifest is never put in another batch: resending it after a crash prints it once.
    idempotent_channels: ClassVar[frozenset[str]] = frozenset({"mail"})

    def __init__(self, channel: str, directory: str | Path | None = None, postage_class: str = "lettre-verte",
                 **options: Any) -> None:
        super().__init__(channel, **options)
        if not directory:
            raise ConfigurationError("letters backend needs a `directory` option")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.postage_class = postage_class
        self._pieces: dict[str, str] | None = None  # piece id -> provider id, from the manifests on disk

    def known_pieces(self) -> dict[str, str]:
        """Pieces already handed to the mailing house (in a complete batch: its manifest exists)."""
        if self._pieces is None:
            self._pieces = {}
            for manifest in sorted(self.directory.glob("batch-*.csv")):
                batch_id = manifest.stem.removeprefix("batch-")
                with manifest.open(encoding="utf-8", newline="") as handle:
                    for row in csv.DictReader(handle):
                        self._pieces[row["piece_id"]] = f"{batch_id}/{row['piece_id']}"
        return self._pieces

    @classmethod
    def options_from_settings(cls, channel: str, settings: Any) -> dict[str, Any]:
        return {"directory": str(Path(settings.outbox_dir) / "mail-batches")}

    def send(self, batch: Sequence[OutgoingMessage]) -> list[SendResult]:
        from weasyprint import HTML

        pages: list[Any] = []
        rows: list[dict[str, Any]] = []
        results: list[SendResult] = []
        first_document = None
        known = self.known_pieces()
        for message in batch:
            if message.message_id in known:
                results.append(SendResult(message.message_id, Outcome.ACCEPTED, self.name,
                                          provider_message_id=known[message.message_id],
                                          parts=int(message.metadata.get("pages") or 1)))
                continue
            if not message.html or not message.address_lines:
                results.append(SendResult(message.message_id, Outcome.REJECTED, self.name,
                                          reason="letter has no HTML or no address lines",
                                          rejection=None if message.address_lines else Rejection.INVALID_ADDRESS))
                continue
            document = HTML(string=message.html, url_fetcher=_no_fetch).render()
            first_document = first_document or document
            start = len(pages) + 1
            pages.extend(document.pages)
            piece = message.attachments[0].content if message.attachments else message.html.encode()
            rows.append({"piece_id": message.message_id, "contact_id": message.to,
                         "address_lines": " | ".join(message.address_lines),
                         "postcode": message.metadata.get("postcode") or "", "country": message.metadata.get("country")
                         or "FR", "first_page": start, "last_page": len(pages), "pages": len(document.pages),
                         "postage_class": self.postage_class, "piece_sha256": hashlib.sha256(piece).hexdigest()})
            results.append(SendResult(message.message_id, Outcome.ACCEPTED, self.name, parts=len(document.pages)))
        if first_document is None:
            return results
        self._write_batch(first_document.copy(pages).write_pdf(), rows, results)
        return results

    def _write_batch(self, pdf: bytes, rows: list[dict[str, Any]], results: list[SendResult]) -> None:
        digest = hashlib.sha256(pdf).hexdigest()
        batch_id = f"{clock.now():%Y%m%dT%H%M%S}-{digest[:8]}"
        pdf_path = self.directory / f"batch-{batch_id}.pdf"
        pdf_path.write_bytes(pdf)
        # The manifest appears (atomically, by rename) only once the PDF is complete: it is the hand-off.
        partial = self.directory / f".batch-{batch_id}.csv.tmp"
        with partial.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow({**row, "batch_pdf": pdf_path.name, "batch_sha256": digest})
        partial.replace(self.directory / f"batch-{batch_id}.csv")
        known = self.known_pieces()
        for row in rows:
            known[row["piece_id"]] = f"{batch_id}/{row['piece_id']}"
        for index, result in enumerate(results):
            if result.outcome is Outcome.ACCEPTED and result.provider_message_id is None:
                results[index] = SendResult(result.message_id, result.outcome, self.name,
                                            provider_message_id=f"{batch_id}/{result.message_id}", parts=result.parts)


def _no_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Letters embed everything: only data: URLs load, so a template cannot make the printer fetch anything."""
    if url.startswith("data:"):
        from weasyprint.urls import default_url_fetcher

        result: dict[str, Any] = default_url_fetcher(url)
        return result
    raise ValueError(f"letters do not fetch external resources: {url}")
