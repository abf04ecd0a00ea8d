"""What feedback changes: ledger statuses (through core.ledger, forward only) and the contact's reachability and
consent."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.orm import Session

from connectors.base import FeedbackEvent, Rejection
from contacts.consent import Proof, set_consent
from core import clock
from core.bulk import Bulk
from core.dialect import member
from core.ledger import MessageStatus, Reported, advance
from core.models import Contact, ContactEventStat, Event, Suppression
from core.settings import Settings
from core.signing import hash_address
from feedback.consent_changes import ConsentChange, change_consents, provider_opt_out


@dataclass(frozen=True)
class Resolved:
    """A feedback event with what the ledger and the contacts table know about it."""

    event: FeedbackEvent
    contact_id: int | None
    campaign_id: int | None = None
    message_id: str | None = None  # a ledger id that exists
    address: str | None = None  # the contact's address on the event's channel (else the event's)


@dataclass
class Effects:
    """Counters of what applying a batch changed."""

    messages: Counter[str] = field(default_factory=Counter)
    contacts: Counter[str] = field(default_factory=Counter)


# Which ledger status each provider event reports (core.ledger moves a message only forward, by rank).
TARGETS: dict[str, MessageStatus] = {
    "email.processed": MessageStatus.SENT,  # proves a send whose outcome a crashed dispatcher never recorded
    "email.delivered": MessageStatus.DELIVERED, "email.bounced": MessageStatus.BOUNCED,
    "email.dropped": MessageStatus.FAILED, "sms.delivered": MessageStatus.DELIVERED, "sms.failed": MessageStatus.FAILED,
}
_DROP_REASONS = {"bounced address": "hard_bounce", "invalid": "hard_bounce", "spam reporting address": "complaint",
                 "unsubscribed address": "unsubscribe"}


def update_messages(session: Session, items: Sequence[Resolved]) -> Counter[str]:
    """Move each ledger row to the furthest status its events report."""
    reports = [Reported(item.message_id, TARGETS[item.event.type], _reason(item.event), _error(item.event))
               for item in items if item.message_id and item.event.type in TARGETS]
    return Counter({str(status): count for status, count in advance(session, reports).items()})


def _reason(event: FeedbackEvent) -> str | None:
    if event.type == "email.bounced":
        return f"bounce_{event.properties.get('bounce', 'hard')}"
    if event.type == "email.dropped":
        return "dropped"
    code = event.properties.get("error_code")
    return f"error_{code}" if code else None


def _error(event: FeedbackEvent) -> str | None:
    if event.type not in ("email.bounced", "email.dropped", "sms.failed"):
        return None  # a delivery's "250 OK" is not an error
    text = event.properties.get("reason") or event.properties.get("response")
    return str(text)[:2000] if text else None


def apply_contact_effects(session: Session, settings: Settings, items: Sequence[Resolved]) -> Counter[str]:
    """Reachability, suppressions and consent changes caused by fresh (never applied) events."""
    counts: Counter[str] = Counter()
    known = [item for item in items if item.contact_id is not None]
    counts["email_valid"] = _mark_status(session, "email_status", "valid", _ids(known, "email.delivered"), "unknown")
    counts["sms_valid"] = _mark_status(session, "sms_status", "valid", _ids(known, "sms.delivered"), "unknown")
    hard = [item for item in items if _is_hard(item.event)]
    counts["email_invalid"] = _mark_status(session, "email_status", "invalid", _ids(hard, None))
    counts["suppressed"] += suppress_many(session, "email", [item.address for item in hard], "hard_bounce")
    counts["suppressed"] += _dropped_suppressions(session, items)
    counts["email_invalid"] += _soft_bounce_limit(session, settings, items)
    counts.update(_consent_effects(session, items))
    return +counts


def _ids(items: Iterable[Resolved], kind: str | None) -> set[int]:
    return {item.contact_id for item in items
            if item.contact_id is not None and (kind is None or item.event.type == kind)}


def _is_hard(event: FeedbackEvent) -> bool:
    if event.type == "email.bounced":
        return event.properties.get("bounce") == "hard"
    return event.type == "email.dropped" and _DROP_REASONS.get(str(event.properties.get("reason", "")).lower()) == (
        "hard_bounce")


def _mark_status(session: Session, column: str, value: str, ids: set[int], only_from: str | None = None) -> int:
    if not ids:
        return 0
    changed = 0
    for chunk in _chunks(sorted(ids), 5000):
        condition = and_(member(session, Contact.id, chunk), getattr(Contact, column) != value)
        if only_from:
            condition = and_(condition, getattr(Contact, column) == only_from)
        result = session.execute(update(Contact).where(condition).values({column: value, "updated_at": clock.now()}),
                                 execution_options={"synchronize_session": False})
        changed += int(getattr(result, "rowcount", 0) or 0)
    return changed


def suppress_many(session: Session, channel: str, addresses: Iterable[str | None], reason: str,
                  source: str = "feedback") -> int:
    """Suppress addresses in one multi-row insert (existing suppressions are kept); returns how many are new."""
    hashes = sorted({hash_address(channel, address) for address in addresses if address})
    if not hashes:
        return 0
    now = clock.now()
    rows = [(channel, value, reason, source, now) for value in hashes]
    returned = Bulk(session).insert("suppressions", ("channel", "address_hash", "reason", "source", "created_at"),
                                    rows, suffix="ON CONFLICT (channel, address_hash) DO NOTHING", returning="id")
    return len(returned)


def _dropped_suppressions(session: Session, items: Sequence[Resolved]) -> int:
    added = 0
    for reason in ("complaint", "unsubscribe"):
        addresses = [item.address for item in items if item.event.type == "email.dropped"
                     and _DROP_REASONS.get(str(item.event.properties.get("reason", "")).lower()) == reason]
        added += suppress_many(session, "email", addresses, reason)
    return added


def _soft_bounce_limit(session: Session, settings: Settings, items: Sequence[Resolved]) -> int:
    """Suppress addresses whose soft/blocked bounces since their last delivery reached the configured limit."""
    ids = {item.contact_id for item in items if item.contact_id is not None and item.event.type == "email.bounced"
           and item.event.properties.get("bounce") in ("soft", "blocked")}
    if not ids:
        return 0
    session.flush()
    last_delivered = (select(ContactEventStat.last_at)
                      .where(ContactEventStat.contact_id == Event.contact_id,
                             ContactEventStat.type == "email.delivered").scalar_subquery())
    kind = Event.properties["bounce"].as_string()
    query = (select(Event.contact_id)
             .where(Event.contact_id.in_(sorted(ids)), Event.type == "email.bounced", kind.in_(("soft", "blocked")),
                    Event.occurred_at > func.coalesce(last_delivered, datetime(1970, 1, 1)))
             .group_by(Event.contact_id).having(func.count() >= settings.soft_bounce_limit))
    reached = {contact_id for contact_id in session.scalars(query) if contact_id is not None}
    if not reached:
        return 0
    emails = session.scalars(select(Contact.email).where(Contact.id.in_(sorted(reached))))
    suppress_many(session, "email", emails, "soft_bounces")
    return _mark_status(session, "email_status", "invalid", reached)


def _consent_effects(session: Session, items: Sequence[Resolved]) -> Counter[str]:
    """Complaints, unsubscribes, resubscribes and Twilio 21610 (in bulk); SMS keywords (rare) one by one."""
    counts: Counter[str] = Counter()
    complaints = [item.address for item in items if item.event.type == "email.complained"]
    counts["suppressed"] += suppress_many(session, "email", complaints, "complaint")
    changes: list[ConsentChange] = []
    for item in items:
        event = item.event
        if event.type == "sms.received":
            counts.update(sms_keyword(session, event))
            continue
        if event.type == "sms.failed" and event.properties.get("rejection") == Rejection.OPTED_OUT:
            if item.contact_id is not None:
                changes.append(provider_opt_out(item.contact_id, event.provider, event.occurred_at))
            continue
        wanted = _wanted_consent(event)
        if wanted is not None and item.contact_id is not None:
            source = f"{event.provider}:{event.properties.get('sendgrid_event') or event.type}"
            changes.append(ConsentChange(item.contact_id, wanted[0], wanted[1], source, event.occurred_at))
    counts.update(change_consents(session, changes))
    return counts


def _wanted_consent(event: FeedbackEvent) -> tuple[str, str] | None:
    if event.type in ("email.complained", "email.unsubscribed"):
        return "email", "withdrawn"
    if event.type == "email.resubscribed":
        return "email", "granted"
    return None


def sms_keyword(session: Session, event: FeedbackEvent) -> Counter[str]:
    """STOP → SMS opt-out of every contact with that number (or a suppression if none); START → opt back in."""
    action, phone = event.properties.get("keyword"), event.address
    counts: Counter[str] = Counter()
    if action not in ("opt_out", "opt_in") or not phone:
        return counts
    proof = Proof(source=f"sms:{str(event.properties.get('body', '')).strip()[:40]}", occurred_at=event.occurred_at)
    contact_ids = list(session.scalars(select(Contact.id).where(Contact.phone == phone)))
    status = "withdrawn" if action == "opt_out" else "granted"
    for contact_id in contact_ids:
        counts[f"consent_{status}"] += int(set_consent(session, contact_id, "sms", status, proof))
    if action == "opt_out" and not contact_ids:
        counts["suppressed"] += suppress_many(session, "sms", [phone], "sms_stop", source="sms")
    if action == "opt_in":
        session.execute(delete(Suppression).where(Suppression.channel == "sms", Suppression.reason == "sms_stop",
                                                  Suppression.address_hash == hash_address("sms", phone)))
    return counts


def _chunks(values: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]
