"""Consent with proof and hashed suppressions: giving, withdrawing and checking them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts.timeline import NewEvent, record_events
from core import clock
from core.dialect import dialect_insert
from core.models import Consent, Suppression
from core.signing import hash_address

CHANNELS = ("email", "sms", "mail")
STATUSES = ("granted", "withdrawn", "pending")


@dataclass(frozen=True)
class Proof:
    """How a consent was given or withdrawn (GDPR art. 7: be able to prove it)."""

    source: str
    form: str | None = None
    wording_version: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    occurred_at: datetime | None = None


def set_consent(
    session: Session, contact_id: int, channel: str, status: str, proof: Proof, *, topic: str = "marketing"
) -> bool:
    """Record the contact's consent for a channel/topic; returns False when nothing changed.

    The current state lives in `consents`; each change is also a `consent.changed` timeline event
    carrying the proof, so the history survives later changes.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if status not in STATUSES:
        raise ValueError(f"unknown consent status {status!r}")
    at = proof.occurred_at or clock.now()
    current = session.scalars(
        select(Consent).where(Consent.contact_id == contact_id, Consent.channel == channel, Consent.topic == topic)
    ).one_or_none()
    if current is not None and current.status == status:
        return False
    if current is None:
        current = Consent(contact_id=contact_id, channel=channel, topic=topic)
        session.add(current)
    current.status = status
    current.source, current.form, current.wording_version = proof.source, proof.form, proof.wording_version
    current.ip, current.user_agent, current.occurred_at = proof.ip, proof.user_agent, at
    session.flush()
    properties = {
        "channel": channel, "topic": topic, "status": status, "source": proof.source, "form": proof.form,
        "wording_version": proof.wording_version, "ip": proof.ip, "user_agent": proof.user_agent,
    }
    key = f"consent:{contact_id}:{channel}:{topic}:{status}:{at.isoformat()}"
    record_events(session, [NewEvent("consent.changed", key, contact_id, at, properties=properties)])
    return True


def suppress(session: Session, channel: str, address: str, reason: str, *, source: str | None = None) -> None:
    """Never contact this address on this channel again (idempotent; kept hashed, survives erasure)."""
    insert = dialect_insert(session)
    session.execute(
        insert(Suppression)
        .values(channel=channel, address_hash=hash_address(channel, address), reason=reason, source=source,
                created_at=clock.now())
        .on_conflict_do_nothing(index_elements=["channel", "address_hash"])
    )


def is_suppressed(session: Session, channel: str, address: str) -> bool:
    """Whether the address is on the channel's suppression list."""
    query = select(Suppression.id).where(
        Suppression.channel == channel, Suppression.address_hash == hash_address(channel, address)
    )
    return session.scalars(query).first() is not None
