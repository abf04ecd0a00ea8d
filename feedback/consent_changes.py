"""Consent changes caused by feedback (complaints, unsubscribes, 21610), applied in bulk with their proof events."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts.timeline import NewEvent, record_events
from core.bulk import Bulk
from core.models import Consent

_COLUMNS = ("contact_id", "channel", "topic", "status", "source", "occurred_at")
_UPSERT = ("ON CONFLICT (contact_id, channel, topic) DO UPDATE SET status = excluded.status, "
           "source = excluded.source, form = NULL, wording_version = NULL, ip = NULL, user_agent = NULL, "
           "occurred_at = excluded.occurred_at")


@dataclass(frozen=True)
class ConsentChange:
    """A consent a provider event asks for (the proof is the provider event itself)."""

    contact_id: int
    channel: str
    status: str
    source: str
    occurred_at: datetime
    topic: str = "marketing"


def provider_opt_out(contact_id: int, provider: str | None, at: datetime) -> ConsentChange:
    """A provider refused an SMS because its recipient opted out at the provider's end (Twilio 21610): mirrored as
    an SMS opt-out, the refusal as proof. Refused at send (the dispatcher) or in a status callback (feedback)."""
    return ConsentChange(contact_id, "sms", "withdrawn", f"{provider or 'provider'}: recipient opted out", at)


def change_consents(session: Session, changes: Sequence[ConsentChange]) -> Counter[str]:
    """Apply the latest change per (contact, channel, topic) when it differs from the current status.

    Same effect as `contacts.consent.set_consent` for each, in two statements plus one events insert.
    """
    latest: dict[tuple[int, str, str], ConsentChange] = {}
    for change in sorted(changes, key=lambda item: item.occurred_at):
        latest[(change.contact_id, change.channel, change.topic)] = change
    if not latest:
        return Counter()
    session.flush()
    current = _current(session, sorted({key[0] for key in latest}))
    todo = [change for key, change in sorted(latest.items()) if current.get(key) != change.status]
    rows = [(c.contact_id, c.channel, c.topic, c.status, c.source, c.occurred_at) for c in todo]
    Bulk(session).insert("consents", _COLUMNS, rows, suffix=_UPSERT)
    record_events(session, [NewEvent(
        "consent.changed", f"consent:{c.contact_id}:{c.channel}:{c.topic}:{c.status}:{c.occurred_at.isoformat()}",
        c.contact_id, c.occurred_at,
        properties={"channel": c.channel, "topic": c.topic, "status": c.status, "source": c.source, "form": None,
                    "wording_version": None, "ip": None, "user_agent": None}) for c in todo])
    session.expire_all()  # ORM objects loaded earlier must not overwrite what SQL just changed
    return Counter(f"consent_{change.status}" for change in todo)


def _current(session: Session, contact_ids: list[int]) -> dict[tuple[int, str, str], str]:
    found: dict[tuple[int, str, str], str] = {}
    for start in range(0, len(contact_ids), 1000):
        query = select(Consent.contact_id, Consent.channel, Consent.topic, Consent.status).where(
            Consent.contact_id.in_(contact_ids[start:start + 1000]))
        for contact_id, channel, topic, status in session.execute(query):
            found[(contact_id, channel, topic)] = status
    return found
