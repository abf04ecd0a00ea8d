"""The contact's own choices from public pages: one-click unsubscribe, preference centre, double opt-in."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts.consent import CHANNELS, Proof, set_consent
from contacts.timeline import NewEvent, record_events
from core import clock
from core.models import Consent, Contact, Message

MARKETING = "marketing"


@dataclass
class Preferences:
    """What the preference centre shows: consent per channel and per topic, and any pause."""

    contact_id: int
    language: str
    email_hint: str | None
    channels: dict[str, bool] = field(default_factory=dict)
    topics: dict[str, bool] = field(default_factory=dict)
    paused_until: datetime | None = None


def mask_email(email: str | None) -> str | None:
    """`j***@example.com`: enough for a person to recognise their address, not enough to harvest it."""
    if not email or "@" not in email:
        return None
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def load_preferences(session: Session, contact: Contact, topics: list[str], default_language: str) -> Preferences:
    """The contact's current consents as the preference centre shows them."""
    rows = session.execute(select(Consent.channel, Consent.topic, Consent.status)
                           .where(Consent.contact_id == contact.id)).all()
    status = {(channel, topic): value for channel, topic, value in rows}
    paused = (contact.attributes or {}).get("paused_until")
    return Preferences(
        contact_id=contact.id,
        language=(contact.language or default_language or "fr")[:2],
        email_hint=mask_email(contact.email),
        channels={channel: _subscribed(channel, status.get((channel, MARKETING))) for channel in _available(contact)},
        topics={topic: status.get(("email", topic), "granted") != "withdrawn" for topic in topics},
        paused_until=clock.utc(datetime.fromisoformat(paused)) if paused else None,
    )


def _available(contact: Contact) -> list[str]:
    """The channels the contact has an address for."""
    present = {"email": contact.email, "sms": contact.phone, "mail": contact.address_line1 and contact.postcode}
    return [channel for channel in CHANNELS if present[channel]]


def _subscribed(channel: str, status: str | None) -> bool:
    # Postal marketing needs no opt-in in France: subscribed unless withdrawn. Email and SMS need consent.
    return status != "withdrawn" if channel == "mail" else status == "granted"


def unsubscribe(session: Session, contact_id: int, proof: Proof, *, message_id: str | None = None,
                everything: bool = False, topics: list[str] | None = None) -> bool:
    """Withdraw email marketing consent (or every channel and topic); records `email.unsubscribed`."""
    channels = CHANNELS if everything else ("email",)
    changed = False
    for channel in channels:
        changed |= set_consent(session, contact_id, channel, "withdrawn", proof)
    for topic in (topics or []) if everything else []:
        changed |= set_consent(session, contact_id, "email", "withdrawn", proof, topic=topic)
    campaign_id = _campaign_of(session, message_id)
    at = proof.occurred_at or clock.now()
    scope = "all" if everything else "email"
    key = f"unsubscribe:{contact_id}:{message_id or '-'}:{scope}:{at.date().isoformat()}"
    record_events(session, [NewEvent("email.unsubscribed", key, contact_id, at, campaign_id=campaign_id,
                                     message_id=message_id if campaign_id is not None else None,
                                     properties={"source": proof.source, "scope": scope})])
    return changed


def _campaign_of(session: Session, message_id: str | None) -> int | None:
    if not message_id:
        return None
    return session.scalar(select(Message.campaign_id).where(Message.id == message_id))


def save_preferences(session: Session, contact: Contact, proof: Proof, *, channels: dict[str, bool],
                     topics: dict[str, bool], pause_weeks: int = 0) -> list[str]:
    """Apply the preference centre form; returns what changed, in words (for the confirmation page)."""
    changes: list[str] = []
    for channel, wanted in channels.items():
        if set_consent(session, contact.id, channel, "granted" if wanted else "withdrawn", proof):
            changes.append(f"{channel}:{'on' if wanted else 'off'}")
    for topic, wanted in topics.items():
        if set_consent(session, contact.id, "email", "granted" if wanted else "withdrawn", proof, topic=topic):
            changes.append(f"topic:{topic}:{'on' if wanted else 'off'}")
    if pause_weeks > 0:
        until = (proof.occurred_at or clock.now()) + timedelta(weeks=pause_weeks)
        contact.attributes = {**(contact.attributes or {}), "paused_until": until.isoformat()}
        changes.append(f"pause:{pause_weeks}")
    if changes:
        at = proof.occurred_at or clock.now()
        digest = hashlib.sha256("|".join(changes).encode()).hexdigest()[:12]
        record_events(session, [NewEvent("preferences.changed", f"prefs:{contact.id}:{at.isoformat()}:{digest}",
                                         contact.id, at, properties={"changes": changes, "source": proof.source})])
    return changes


def confirm_consent(session: Session, contact_id: int, channel: str, proof: Proof, *, topic: str = MARKETING) -> str:
    """Double opt-in: a pending consent becomes granted. Returns confirmed | already | not_pending."""
    current = session.scalar(select(Consent.status).where(Consent.contact_id == contact_id,
                                                         Consent.channel == channel, Consent.topic == topic))
    if current == "granted":
        return "already"
    if current != "pending":
        return "not_pending"  # withdrawn since, or never asked: an old link must not re-subscribe anyone
    set_consent(session, contact_id, channel, "granted", proof, topic=topic)
    return "confirmed"
