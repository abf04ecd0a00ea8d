"""Returned letters ("NPAI"): a file from the mailing house → postal address invalid + `mail.returned` events."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from contacts.imports.readers import open_table
from contacts.normalise import InvalidValue, fold, parse_datetime
from contacts.timeline import NewEvent, record_events
from core import clock
from core.db import session_scope
from core.ledger import returned_by_post
from core.models import Contact, Message

# Accepted headers (folded) -> our names.
ALIASES = {
    "contact id": "contact_id", "contact": "contact_id", "id contact": "contact_id",
    "piece id": "piece_id", "piece": "piece_id", "pli": "piece_id", "message id": "piece_id", "id pli": "piece_id",
    "address line1": "address_line1", "address 1": "address_line1", "adresse": "address_line1",
    "adresse 1": "address_line1", "line 4": "address_line1", "ligne 4": "address_line1",
    "postcode": "postcode", "code postal": "postcode", "cp": "postcode", "zip": "postcode",
    "reason": "reason", "motif": "reason", "returned at": "returned_at", "date retour": "returned_at",
    "date": "returned_at",
}


@dataclass
class ReturnedMailSummary:
    """What an import of returned mail did."""

    file: str
    rows: int = 0
    matched: int = 0
    newly_invalid: int = 0
    events: int = 0
    unmatched: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "rows": self.rows, "matched": self.matched, "newly_invalid": self.newly_invalid,
                "events": self.events, "unmatched": len(self.unmatched), "unmatched_rows": self.unmatched[:100]}


@dataclass(frozen=True)
class _Returned:
    line: int
    contact_id: int
    message_id: str | None
    reason: str | None
    at: datetime
    key: str


def import_returned_mail(engine: Engine, path: Path, *, manifest: Path | None = None,
                         batch: int = 1000) -> ReturnedMailSummary:
    """Mark the postal addresses of returned pieces invalid; re-importing the same file changes nothing."""
    summary = ReturnedMailSummary(file=str(path))
    pieces = _manifest(manifest) if manifest else {}
    rows = list(_rows(path))
    summary.rows = len(rows)
    for start in range(0, len(rows), batch):
        with session_scope(engine) as session:
            found = [item for item in (_match(session, line, record, pieces, summary)
                                       for line, record in rows[start:start + batch]) if item]
            _apply(session, found, summary)
    return summary


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    table = open_table(path)
    names = [ALIASES.get(fold(header).replace("_", " "), fold(header).replace(" ", "_")) for header in table.headers]
    for line, cells in table.rows:
        yield line, {name: cell.strip() for name, cell in zip(names, cells, strict=False) if cell and cell.strip()}


def _manifest(path: Path) -> dict[str, int]:
    """piece id -> contact id from a letters manifest CSV."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        pieces = {}
        for record in reader:
            normalised = {ALIASES.get(fold(k or "").replace("_", " "), k): v for k, v in record.items()}
            if normalised.get("piece_id") and str(normalised.get("contact_id") or "").isdigit():
                pieces[str(normalised["piece_id"])] = int(str(normalised["contact_id"]))
        return pieces


def _match(session: Session, line: int, record: dict[str, str], pieces: dict[str, int],
           summary: ReturnedMailSummary) -> _Returned | None:
    contact_id, message_id = _identify(session, record, pieces)
    if contact_id is None:
        summary.unmatched.append({"line": line, "reason": "no contact matches this row", **record})
        return None
    try:
        at = parse_datetime(record["returned_at"]) if record.get("returned_at") else clock.now()
    except InvalidValue:
        at = clock.now()
    identity = record.get("piece_id") or message_id or "|".join(
        fold(record.get(name, "")) for name in ("address_line1", "postcode"))
    key = "returned:" + hashlib.sha256(f"{contact_id}|{identity}".encode()).hexdigest()[:32]
    return _Returned(line, contact_id, message_id, record.get("reason"), at, key)


def _identify(session: Session, record: dict[str, str], pieces: dict[str, int]) -> tuple[int | None, str | None]:
    if record.get("contact_id", "").isdigit():
        found = session.scalar(select(Contact.id).where(Contact.id == int(record["contact_id"])))
        return found, None
    piece = record.get("piece_id")
    if piece:
        row = session.execute(select(Message.contact_id, Message.id).where(Message.id == piece[:36])).first()
        if row is not None:
            return row[0], row[1]
        if piece in pieces:
            return session.scalar(select(Contact.id).where(Contact.id == pieces[piece])), None
    if record.get("address_line1") and record.get("postcode"):
        candidates = session.execute(select(Contact.id, Contact.address_line1)
                                     .where(Contact.postcode == record["postcode"]).order_by(Contact.id)).all()
        wanted = fold(record["address_line1"])
        for contact_id, line1 in candidates:
            if line1 and fold(line1) == wanted:
                return contact_id, None
    return None, None


def _apply(session: Session, found: list[_Returned], summary: ReturnedMailSummary) -> None:
    if not found:
        return
    ids = sorted({item.contact_id for item in found})
    result = session.execute(update(Contact).where(Contact.id.in_(ids), Contact.mail_status != "invalid")
                             .values(mail_status="invalid", updated_at=clock.now()))
    summary.newly_invalid += int(getattr(result, "rowcount", 0) or 0)
    message_ids = [item.message_id for item in found if item.message_id]
    returned_by_post(session, message_ids)
    summary.matched += len(found)
    summary.events += record_events(session, [
        NewEvent("mail.returned", item.key, item.contact_id, item.at, message_id=item.message_id,
                 properties={"reason": item.reason, "line": item.line}) for item in found])
