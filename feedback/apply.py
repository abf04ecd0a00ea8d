"""Applying stored feedback (webhooks, tracking hits) to messages and contacts, in idempotent batches."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.orm import Session

from connectors.base import FeedbackEvent
from contacts.timeline import NewEvent, record_events
from core import clock
from core.db import session_scope
from core.dialect import is_sqlite, member
from core.models import Contact, Event, InboundRequest, Message
from core.settings import Settings
from feedback.effects import Resolved, apply_contact_effects, update_messages
from feedback.requests import StoredRequest, UnusableRequest, parse_request

DEFAULT_LIMIT = 100  # stored requests per batch (a SendGrid request carries up to ~1,000 events)
CHUNK = 5000  # keys per lookup statement


@dataclass
class FeedbackSummary:
    """What one or more batches applied."""

    requests: int = 0
    failed_requests: int = 0
    events: int = 0
    new_events: int = 0
    duplicates: int = 0
    skipped: int = 0
    unknown_messages: int = 0
    messages: Counter[str] = field(default_factory=Counter)
    contacts: Counter[str] = field(default_factory=Counter)
    by_type: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def add(self, other: FeedbackSummary) -> None:
        for name in ("requests", "failed_requests", "events", "new_events", "duplicates", "skipped",
                     "unknown_messages", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.messages.update(other.messages)
        self.contacts.update(other.contacts)
        self.by_type.update(other.by_type)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "failed_requests": self.failed_requests, "events": self.events,
            "new_events": self.new_events, "duplicates": self.duplicates, "skipped": self.skipped,
            "unknown_messages": self.unknown_messages, "messages": dict(self.messages),
            "contacts": dict(self.contacts), "by_type": dict(self.by_type), "seconds": round(self.seconds, 3),
        }


def pending_count(session: Session) -> int:
    """How many stored requests wait to be applied."""
    return int(session.scalar(select(func.count()).where(InboundRequest.status == "pending")) or 0)


def apply_pending(session: Session, settings: Settings, *, limit: int = DEFAULT_LIMIT,
                  providers: Sequence[str] | None = None) -> FeedbackSummary:
    """Apply up to `limit` pending requests (of `providers`, default all) in this session's transaction (the caller
    commits)."""
    started = time.perf_counter()
    summary = FeedbackSummary()
    requests = _claim(session, limit, providers)
    parsed: list[FeedbackEvent] = []
    failed: dict[int, str] = {}
    for request in requests:
        try:
            events, skipped = parse_request(request)
        except UnusableRequest as exc:
            failed[request.id] = str(exc)
            continue
        parsed.extend(events)
        summary.skipped += skipped
    resolved = resolve(session, parsed)
    _record(session, settings, resolved, summary)
    _mark(session, [request.id for request in requests if request.id not in failed], failed)
    summary.requests, summary.failed_requests = len(requests), len(failed)
    summary.seconds = time.perf_counter() - started
    return summary


def apply_all(engine: Engine, settings: Settings, *, limit: int = DEFAULT_LIMIT, max_batches: int | None = None,
              on_batch: Any = None, providers: Sequence[str] | None = None) -> FeedbackSummary:
    """Apply batches, each in its own transaction, until nothing is pending (or `max_batches` ran); `providers`
    limits it to those providers' requests."""
    total = FeedbackSummary()
    batches = 0
    while max_batches is None or batches < max_batches:
        with session_scope(engine) as session:
            summary = apply_pending(session, settings, limit=limit, providers=providers)
        batches += 1
        total.add(summary)
        if on_batch is not None:
            on_batch(summary)
        if summary.requests < limit:
            break
    return total


def _claim(session: Session, limit: int, providers: Sequence[str] | None) -> list[StoredRequest]:
    query = (select(InboundRequest.id, InboundRequest.provider, InboundRequest.headers, InboundRequest.body,
                    InboundRequest.received_at)
             .where(InboundRequest.status == "pending").order_by(InboundRequest.id).limit(limit))
    if providers is not None:
        query = query.where(InboundRequest.provider.in_(providers))
    if not is_sqlite(session):
        query = query.with_for_update(skip_locked=True)
    return [StoredRequest(*row) for row in session.execute(query)]


def _mark(session: Session, applied: list[int], failed: dict[int, str]) -> None:
    now = clock.now()
    for start in range(0, len(applied), 1000):
        chunk = applied[start:start + 1000]
        session.execute(update(InboundRequest).where(InboundRequest.id.in_(chunk))
                        .values(status="applied", applied_at=now, error=None))
    for request_id, error in failed.items():
        session.execute(update(InboundRequest).where(InboundRequest.id == request_id)
                        .values(status="failed", applied_at=now, error=error[:2000]))


def resolve(session: Session, events: Sequence[FeedbackEvent]) -> list[Resolved]:
    """Attach each event to its ledger message (by our id, else the provider's) and contact (else by address)."""
    by_id = _messages(session, Message.id, {event.message_id for event in events if event.message_id})
    missing = {_provider_key(event) for event in events if not event.message_id or event.message_id not in by_id}
    by_provider = _messages(session, Message.provider_message_id, missing - {""})
    orphans = [event for event in events
               if event.message_id not in by_id and _provider_key(event) not in by_provider]
    contacts = _contacts_by_address(session, orphans)
    resolved: list[Resolved] = []
    for event in events:
        row = by_id.get(event.message_id or "") or by_provider.get(_provider_key(event))
        if row is not None:
            contact_id = row["contact_id"]
            address = row["email"] if row["channel"] == "email" else row["phone"]
            resolved.append(Resolved(event, contact_id, row["campaign_id"], row["id"], address or event.address))
        else:
            contact_id = contacts.get(_address_key(event.address)) if event.address else None
            resolved.append(Resolved(event, contact_id, None, None, event.address))
    return resolved


def _provider_key(event: FeedbackEvent) -> str:
    """The provider's message id as the dispatcher stored it (SendGrid: X-Message-Id, the sg_message_id prefix)."""
    key = event.provider_message_id or ""
    return key.split(".", 1)[0] if event.provider == "sendgrid" else key


def _messages(session: Session, column: Any, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    values = sorted(keys)
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(values), CHUNK):
        query = (select(column.label("key"), Message.id, Message.contact_id, Message.campaign_id, Message.channel,
                        Contact.email, Contact.phone)
                 .join(Contact, Contact.id == Message.contact_id)
                 .where(member(session, column, values[start:start + CHUNK])))
        for row in session.execute(query).mappings():
            found[row["key"]] = dict(row)
    return found


def _address_key(address: str | None) -> str:
    return (address or "").strip().lower()


def _contacts_by_address(session: Session, events: Sequence[FeedbackEvent]) -> dict[str, int]:
    """Contacts of events that name no known message (inbound SMS, unknown ids), by email or phone."""
    emails = sorted({_address_key(event.address) for event in events
                     if event.address and "@" in event.address})
    phones = sorted({event.address.strip() for event in events if event.address and "@" not in event.address})
    found: dict[str, int] = {}
    for column, values in ((Contact.email, emails), (Contact.phone, phones)):
        for start in range(0, len(values), CHUNK):
            query = (select(column, Contact.id).where(member(session, column, values[start:start + CHUNK]))
                     .order_by(Contact.id))
            for key, contact_id in session.execute(query):
                found.setdefault(_address_key(key), contact_id)
    return found


def _record(session: Session, settings: Settings, items: list[Resolved], summary: FeedbackSummary) -> None:
    """Record timeline events, then apply the effects of the events never seen before."""
    summary.events = len(items)
    unique = {item.event.dedupe_key: item for item in items}
    seen = _existing_keys(session, list(unique))
    fresh = [item for key, item in unique.items() if key not in seen]
    summary.duplicates = len(items) - len(fresh)
    summary.unknown_messages = sum(1 for item in fresh if item.event.message_id and item.message_id is None)
    new = [_new_event(item) for item in fresh]
    # Machine opens and clicks go on the timeline, flagged, but not into the engagement stats segments read.
    summary.new_events = record_events(session, [event for event in new if not event.properties.get("machine")])
    summary.new_events += record_events(session, [event for event in new if event.properties.get("machine")],
                                       stats=False)
    summary.by_type.update(item.event.type for item in fresh)
    summary.messages.update(update_messages(session, fresh))
    summary.contacts.update(apply_contact_effects(session, settings, fresh))


def _existing_keys(session: Session, keys: list[str]) -> set[str]:
    seen: set[str] = set()
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start:start + CHUNK]
        seen.update(session.scalars(select(Event.dedupe_key).where(member(session, Event.dedupe_key, chunk))))
    return seen


def _new_event(item: Resolved) -> NewEvent:
    event = item.event
    properties = dict(event.properties)
    properties["provider"] = event.provider
    if event.message_id and item.message_id is None:
        properties["unknown_message_id"] = event.message_id
    if event.provider_message_id:
        properties["provider_message_id"] = event.provider_message_id
    return NewEvent(type=event.type, dedupe_key=event.dedupe_key, contact_id=item.contact_id,
                    occurred_at=event.occurred_at, campaign_id=item.campaign_id, message_id=item.message_id,
                    properties=properties, value=Decimal(0))


def store_request(engine: Engine, provider: str, body: str, headers: dict[str, Any]) -> int:
    """Keep a verified request raw, pending (one short INSERT: the web request path does nothing else)."""
    with engine.begin() as connection:
        return int(connection.execute(
            insert(InboundRequest).values(provider=provider, received_at=clock.now(), headers=headers, body=body,
                                          status="pending").returning(InboundRequest.id)).scalar_one())
