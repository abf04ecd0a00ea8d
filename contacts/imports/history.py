"""Importing history from an old system: timeline events and conversions (revenue), idempotently."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from contacts.imports.prepare import as_datetime
from contacts.imports.readers import iter_records
from contacts.imports.rows import RowError
from contacts.normalise import InvalidValue, normalise_email, normalise_phone, parse_datetime
from contacts.timeline import NewEvent, record_events
from core import clock
from core.bulk import Bulk, lean_gc
from core.db import session_factory
from core.models import Contact

BATCH_SIZE = 5000
_CONTACT_KEYS = ("contact_id", "external_id", "email", "phone")
_EVENT_COLUMNS = {"type", "occurred_at", "properties", "id", "dedupe_key", "value", "campaign_id", *_CONTACT_KEYS}


@dataclass
class HistorySummary:
    """What an events/conversions import did; rows read = recorded + already present + rejected."""

    file: str
    rows_read: int = 0
    recorded: int = 0
    already_present: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    report: str | None = None
    _report_writer: Any = field(default=None, repr=False, compare=False)

    def reject(self, error: RowError) -> None:
        self.rejected += 1
        if len(self.errors) < 1000:
            self.errors.append(asdict(error))
        if self._report_writer is not None:
            self._report_writer.writerow((error.line, error.column, error.value, error.reason))

    def as_dict(self) -> dict[str, Any]:
        return {item.name: getattr(self, item.name) for item in fields(self) if not item.name.startswith("_")}


def import_events(engine: Engine, path: Path, *, source: str | None = None, default_region: str = "FR",
                  report: Path | None = None, on_progress: Callable[[int], None] | None = None) -> HistorySummary:
    """Import timeline events (JSONL or CSV); the dedupe key is the row's `id`/`dedupe_key` — within the `source`
    system's namespace when one is named — or a hash of the row. An id already taken by a different event (another
    system numbering 1, 2, 3… too) is rejected, never counted as present. Rejected rows (line, column, value,
    reason) go to the summary and, when given, the `report` CSV."""
    name = check_source(source)
    return _run(engine, path, partial(_event_from, source=name), _write_events, default_region, on_progress, report)


def check_source(source: str | None) -> str | None:
    """The name of the system events come from, as it prefixes their ids; raises ValueError when unusable."""
    if source is None:
        return None
    name = source.strip()
    if not re.fullmatch(r"[\w.\-]{1,60}", name):
        raise ValueError(f"invalid source {source!r}: 1 to 60 letters, digits, dots, dashes or underscores")
    return name


def import_conversions(engine: Engine, path: Path, *, default_region: str = "FR", report: Path | None = None,
                       on_progress: Callable[[int], None] | None = None) -> HistorySummary:
    """Import conversions (idempotent on `external_ref`); each new one is also a `conversion` event."""
    return _run(engine, path, _conversion_from, _write_conversions, default_region, on_progress, report)


Parsed = tuple[int, dict[str, Any], dict[str, Any]]  # line, contact keys, payload


def _run(engine: Engine, path: Path, parse: Callable[[int, dict[str, Any], str], Parsed],
         write: Callable[[Session, list[tuple[int, int, dict[str, Any]]], HistorySummary], None],
         region: str, on_progress: Callable[[int], None] | None, report: Path | None) -> HistorySummary:
    summary = HistorySummary(file=path.name)
    records = iter_records(path)
    with ExitStack() as stack:
        stack.enter_context(lean_gc())
        if report is not None:
            handle = stack.enter_context(report.open("w", encoding="utf-8-sig", newline=""))
            summary._report_writer = csv.writer(handle)
            summary._report_writer.writerow(("line", "column", "value", "reason"))
            summary.report = str(report)
        session = stack.enter_context(session_factory(engine)())
        while batch := list(islice(records, BATCH_SIZE)):
            summary.rows_read += len(batch)
            parsed = []
            for line, record in batch:
                try:
                    if isinstance(record, str):
                        raise InvalidValue(record)
                    parsed.append(parse(line, record, region))
                except InvalidValue as exc:
                    summary.reject(RowError(line, getattr(exc, "column", ""), getattr(exc, "value", ""), str(exc)))
            write(session, _with_contacts(session, parsed, summary), summary)
            session.commit()
            if on_progress is not None:
                on_progress(len(batch))
    return summary


class BadCell(InvalidValue):
    """An invalid value in a named column of a history row."""

    def __init__(self, column: str, value: Any, reason: str) -> None:
        super().__init__(reason)
        self.column, self.value = column, "" if value is None else str(value)


def _cell(record: dict[str, Any], name: str, parse: Callable[[str], Any]) -> Any:
    """`parse` applied to the trimmed cell `name`; its InvalidValue names the column."""
    raw = str(record.get(name) or "").strip()
    try:
        return parse(raw)
    except BadCell:
        raise
    except InvalidValue as exc:
        raise BadCell(name, raw, str(exc)) from exc


def _contact_id(raw: str) -> int:
    if not raw.isdigit():
        raise InvalidValue(f"contact_id must be a number, got {raw!r}")
    return int(raw)


def _contact_keys(record: dict[str, Any], region: str) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    parsers: dict[str, Callable[[str], Any]] = {
        "email": normalise_email, "phone": lambda raw: normalise_phone(raw, region), "contact_id": _contact_id,
        "external_id": str,
    }
    for name in _CONTACT_KEYS:
        if str(record.get(name) or "").strip():
            keys[name] = _cell(record, name, parsers[name])
    if not keys:
        raise InvalidValue("no email, phone, external_id or contact_id to find the contact")
    return keys


def _with_contacts(session: Session, parsed: list[Parsed],
                   summary: HistorySummary) -> list[tuple[int, int, dict[str, Any]]]:
    """(line, contact id, payload) for rows whose contact exists; the others are rejected."""
    found: dict[tuple[str, Any], int] = {}
    for name in _CONTACT_KEYS:
        values = {keys[name] for _, keys, _ in parsed if name in keys}
        column = Contact.id if name == "contact_id" else getattr(Contact, name)
        for chunk in _chunks(sorted(values), 5000):
            query = select(column, Contact.id).where(column.in_(chunk), Contact.erased_at.is_(None))
            found.update({(name, value): contact_id for value, contact_id in session.execute(query).tuples()})
    resolved = []
    for line, keys, payload in parsed:
        contact_id = next((found[(name, keys[name])] for name in _CONTACT_KEYS if (name, keys.get(name)) in found),
                          None)
        if contact_id is None:
            summary.reject(RowError(line, next(iter(keys)), str(next(iter(keys.values()))), "no such contact"))
        else:
            resolved.append((line, contact_id, payload))
    return resolved


def _chunks(values: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _required_datetime(record: dict[str, Any], name: str) -> datetime:
    def parse(raw: str) -> datetime:
        if not raw:
            raise InvalidValue(f"missing {name}")
        return parse_datetime(raw)

    return _cell(record, name, parse)


def _event_from(line: int, record: dict[str, Any], region: str, *, source: str | None = None) -> Parsed:
    kind = str(record.get("type") or "").strip()
    if not re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*", kind):
        raise BadCell("type", kind, f"missing or malformed event type {kind!r} (e.g. email.opened)")
    properties = record.get("properties") or {}
    if isinstance(properties, str):
        try:
            properties = json.loads(properties)
        except ValueError as exc:
            raise BadCell("properties", properties, f"properties is not valid JSON: {exc}") from exc
    if not isinstance(properties, dict):
        raise BadCell("properties", properties, "properties must be a JSON object")
    properties = {**{k: v for k, v in record.items() if k not in _EVENT_COLUMNS and v not in (None, "")},
                  **properties}
    key_column = "dedupe_key" if str(record.get("dedupe_key") or "").strip() else "id"
    key = str(record.get(key_column) or "").strip()
    if not key:
        canonical = json.dumps(record, sort_keys=True, default=str, ensure_ascii=False)
        key = "import:" + hashlib.sha256(canonical.encode()).hexdigest()  # the same row is the same event anywhere
    elif source is not None:
        key = f"import:{source}:{key}"
    payload = {"type": kind, "occurred_at": _required_datetime(record, "occurred_at"), "properties": properties,
               "dedupe_key": key[:255], "key_column": key_column,
               "value": _cell(record, "value", _amount) if record.get("value") not in (None, "") else Decimal(0)}
    return line, _contact_keys(record, region), payload


def _write_events(session: Session, rows: list[tuple[int, int, dict[str, Any]]], summary: HistorySummary) -> None:
    """Record the rows' events; a key already taken — in the database or earlier in the batch — is the same event
    when contact, type and moment match (already present), else another event's (rejected: a collision)."""
    known: dict[str, tuple[Any, ...]] = {
        key: (contact_id, kind, as_datetime(at)) for key, contact_id, kind, at in Bulk(session).select_in(
            "SELECT dedupe_key, contact_id, type, occurred_at FROM events WHERE dedupe_key IN",
            sorted({payload["dedupe_key"] for _, _, payload in rows}))}
    events = []
    for line, contact_id, payload in rows:
        key, identity = payload["dedupe_key"], (contact_id, payload["type"], clock.utc(payload["occurred_at"]))
        taken = known.setdefault(key, identity)
        if taken is identity:
            events.append(NewEvent(payload["type"], key, contact_id, payload["occurred_at"],
                                   properties=payload["properties"], value=payload["value"]))
        elif taken == identity:
            summary.already_present += 1
        else:
            summary.reject(RowError(line, payload["key_column"], key, _collision(key)))
    new = record_events(session, events)
    summary.recorded += new
    summary.already_present += len(events) - new


def _collision(key: str) -> str:
    return (f"another event (other contact, type or moment) already has the key {key!r}: if these events come from "
            "another system that numbers its events too, import each system's file with its own --source")


def _amount(raw: Any) -> Decimal:
    """`1234.5`, `1 234,50`, `1.234,50`, `€12` → Decimal; raises InvalidValue."""
    text = re.sub(r"[\s\u00a0\u202f€$£]", "", str(raw))
    if "," in text and "." in text:
        text = text.replace(".", "").replace(",", ".") if text.rfind(",") > text.rfind(".") else text.replace(",", "")
    elif "," in text:
        text = text.replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise InvalidValue(f"invalid amount {raw!r}") from exc
    if not value.is_finite():
        raise InvalidValue(f"invalid amount {raw!r}")
    return value.quantize(Decimal("0.01"))


def _conversion_from(line: int, record: dict[str, Any], region: str) -> Parsed:
    reference = str(record.get("external_ref") or "").strip()
    if not reference:
        raise BadCell("external_ref", "", "missing external_ref (the order or invoice number makes re-imports safe)")
    currency = str(record.get("currency") or "EUR").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise BadCell("currency", currency, f"invalid currency {currency!r} (ISO 4217 code such as EUR)")
    if not str(record.get("amount") or "").strip():
        raise BadCell("amount", "", "missing amount")
    payload = {"amount": _cell(record, "amount", _amount), "currency": currency, "external_ref": reference[:255],
               "occurred_at": _required_datetime(record, "occurred_at"),
               "kind": str(record.get("kind") or "purchase").strip()[:64]}
    return line, _contact_keys(record, region), payload


def _write_conversions(session: Session, rows: list[tuple[int, int, dict[str, Any]]],
                       summary: HistorySummary) -> None:
    unique = {p["external_ref"]: (contact_id, p) for _, contact_id, p in rows}
    now = clock.now()
    columns = ("contact_id", "amount", "currency", "occurred_at", "kind", "external_ref", "properties", "created_at")
    values = [(contact_id, p["amount"], p["currency"], p["occurred_at"], p["kind"], ref, {"source": "import"}, now)
              for ref, (contact_id, p) in unique.items()]
    inserted = {ref for (ref,) in Bulk(session).insert(
        "conversions", columns, values, suffix="ON CONFLICT (external_ref) DO NOTHING", returning="external_ref")}
    events = [
        NewEvent("conversion", f"conversion:{ref}", unique[ref][0], unique[ref][1]["occurred_at"],
                 properties={"amount": str(unique[ref][1]["amount"]), "currency": unique[ref][1]["currency"],
                             "external_ref": ref, "kind": unique[ref][1]["kind"]},
                 value=unique[ref][1]["amount"])
        for ref in sorted(inserted)
    ]
    record_events(session, events)
    summary.recorded += len(inserted)
    summary.already_present += len(rows) - len(inserted)
