"""Bulk writes for imports: accounts by name, contact inserts/updates, tags and consents with proof."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts.fastsql import Bulk
from contacts.mapping import CONTACT_FIELDS
from contacts.normalise import account_key
from contacts.resolve import Entity
from contacts.rows import ConsentInput, postal_key
from contacts.timeline import NewEvent, record_events
from core import clock
from core.db import dialect_insert
from core.models import Account, Tag

# Default time zone of countries that have a single one (the rest stay empty: campaigns use the default).
COUNTRY_TIMEZONES = {
    "FR": "Europe/Paris", "BE": "Europe/Brussels", "CH": "Europe/Zurich", "GB": "Europe/London",
    "DE": "Europe/Berlin", "ES": "Europe/Madrid", "IT": "Europe/Rome", "NL": "Europe/Amsterdam",
    "LU": "Europe/Luxembourg", "IE": "Europe/Dublin", "MC": "Europe/Monaco", "AT": "Europe/Vienna",
    "PT": "Europe/Lisbon", "RE": "Indian/Reunion",
}
WRITTEN_COLUMNS = (*CONTACT_FIELDS, "account_id", "attributes")


def ensure_accounts(session: Session, names: Iterable[str]) -> dict[str, int]:
    """Account id per company name key, creating the missing accounts (one insert, one select)."""
    by_key: dict[str, str] = {}
    for name in names:
        by_key.setdefault(account_key(name), name)
    by_key.pop("", None)
    if not by_key:
        return {}
    connection = session.connection()
    found = dict(connection.execute(
        select(Account.name_key, Account.id).where(Account.name_key.in_(by_key))
    ).tuples().all())
    missing = sorted(set(by_key) - set(found))
    if missing:
        now = clock.now()
        rows = [{"name": by_key[key][:255], "name_key": key, "attributes": {}, "created_at": now, "updated_at": now}
                for key in missing]
        statement = dialect_insert(session)(Account.__table__).on_conflict_do_nothing(index_elements=["name_key"])
        connection.execute(statement, rows)
        found.update(connection.execute(
            select(Account.name_key, Account.id).where(Account.name_key.in_(missing))
        ).tuples().all())
    return found


def link_accounts(session: Session, entities: Sequence[Entity]) -> None:
    """Set `account_id` from the company name on entities whose company is new or changed."""
    needing = [entity for entity in entities
               if entity.fields.get("company") and (entity.company_changed or not entity.fields.get("account_id"))]
    accounts = ensure_accounts(session, (entity.fields["company"] for entity in needing))
    for entity in needing:
        entity.fields["account_id"] = accounts.get(account_key(entity.fields["company"]))


def _row(entity: Entity) -> dict[str, Any]:
    values = {name: entity.fields.get(name) for name in (*CONTACT_FIELDS, "account_id")}
    if not values["timezone"] and values["country"]:
        values["timezone"] = COUNTRY_TIMEZONES.get(values["country"])
    values["attributes"] = entity.attributes
    return values


def insert_contacts(session: Session, entities: Sequence[Entity]) -> None:
    """Insert new entities in multi-row statements and give each its id."""
    if not entities:
        return
    now = clock.now()
    columns = [*WRITTEN_COLUMNS, "created_at", "updated_at", "email_status", "sms_status", "mail_status", "score"]
    rows = []
    for entity in entities:
        values = _row(entity)
        values["lifecycle_stage"] = values["lifecycle_stage"] or "subscriber"
        rows.append([*(values[name] for name in WRITTEN_COLUMNS), now, now, "unknown", "unknown", "unknown", 0])
    # Rows come back in any order (ordered RETURNING would cost one statement per row on SQLite): match them
    # to entities by their identity keys, unique within a batch by construction of the resolver.
    by_identity = {_identity(entity.fields): entity for entity in entities}
    returned = Bulk(session).insert("contacts", columns, rows, returning="id, " + ", ".join(_IDENTITY_COLUMNS))
    for contact_id, *keys in returned:
        by_identity[_identity(dict(zip(_IDENTITY_COLUMNS, keys, strict=True)))].id = contact_id


_IDENTITY_COLUMNS = ("external_id", "email", "phone", "first_name", "last_name", "address_line1", "postcode", "city")


def _identity(fields: dict[str, Any]) -> tuple[Any, ...]:
    keys = (fields.get("external_id"), fields.get("email"), fields.get("phone"))
    return keys if any(keys) else (*keys, postal_key(fields))


def update_contacts(session: Session, entities: Sequence[Entity]) -> None:
    """Write changed entities back (one executemany UPDATE by primary key)."""
    if not entities:
        return
    now = clock.now()
    rows = []
    for entity in entities:
        current = _row(entity)
        current["lifecycle_stage"] = current["lifecycle_stage"] or "subscriber"
        rows.append([*(current[name] for name in WRITTEN_COLUMNS), now, entity.id])
    assignments = ", ".join(f"{name} = ?" for name in (*WRITTEN_COLUMNS, "updated_at"))
    Bulk(session).executemany(f"UPDATE contacts SET {assignments} WHERE id = ?", rows)


def add_tags(session: Session, entities: Sequence[Entity]) -> set[int]:
    """Attach the entities' tags (creating tags as needed); returns ids of contacts that gained a tag."""
    wanted = {(entity.id, tag[:120]) for entity in entities if entity.id is not None for tag in entity.tags}
    if not wanted:
        return set()
    names = {tag for _, tag in wanted}
    connection = session.connection()
    insert_dialect = dialect_insert(session)
    tag_ids = dict(connection.execute(select(Tag.name, Tag.id).where(Tag.name.in_(names))).tuples().all())
    if missing := sorted(names - set(tag_ids)):
        connection.execute(insert_dialect(Tag.__table__).on_conflict_do_nothing(index_elements=["name"]),
                           [{"name": name} for name in missing])
        tag_ids.update(connection.execute(select(Tag.name, Tag.id).where(Tag.name.in_(missing))).tuples().all())
    contact_ids = {contact_id for contact_id, _ in wanted}
    existing = set(Bulk(session).select_in("SELECT contact_id, tag_id FROM contact_tags WHERE contact_id IN",
                                           sorted(contact_ids)))
    new_links = sorted({(contact_id, tag_ids[tag]) for contact_id, tag in wanted} - existing)
    Bulk(session).insert("contact_tags", ("contact_id", "tag_id"), new_links, suffix="ON CONFLICT DO NOTHING")
    return {contact_id for contact_id, _ in new_links}


def apply_consents(session: Session, entities: Sequence[Entity], *, default_source: str) -> set[int]:
    """Record imported consents with proof where they change something; returns the contacts changed.

    An import never overrides a more recent consent: a dated row applies when its date is newer than the
    recorded consent; an undated row may withdraw but never re-grants over a withdrawal.
    """
    wanted = {(entity.id, channel): consent for entity in entities if entity.id is not None
              for channel, consent in entity.consents.items()}
    if not wanted:
        return set()
    contact_ids = {contact_id for contact_id, _ in wanted}
    rows = Bulk(session).select_in(
        "SELECT contact_id, channel, status, occurred_at FROM consents WHERE topic = 'marketing' AND contact_id IN",
        sorted(contact_ids),
    )
    current = {(contact_id, channel): (status, _as_datetime(at)) for contact_id, channel, status, at in rows}
    now = clock.now()
    changes = [
        _consent_row(contact_id, channel, consent, default_source, now)
        for (contact_id, channel), consent in sorted(wanted.items(), key=lambda item: (item[0][0] or 0, item[0][1]))
        if _consent_applies(consent, current.get((contact_id, channel)))
    ]
    if not changes:
        return set()
    names = ("contact_id", "channel", "topic", "status", "source", "form", "wording_version", "ip", "user_agent",
             "occurred_at")
    updates = ", ".join(f"{name} = excluded.{name}" for name in names[3:])
    Bulk(session).insert("consents", names, [[change[name] for name in names] for change in changes],
                         suffix=f"ON CONFLICT (contact_id, channel, topic) DO UPDATE SET {updates}")
    record_events(session, (_consent_event(change) for change in changes))
    return {change["contact_id"] for change in changes}


def _as_datetime(value: Any) -> datetime:
    """A timestamp read through the driver (SQLite returns text) as an aware UTC datetime."""
    return clock.utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def _consent_applies(consent: ConsentInput, current: tuple[str, datetime] | None) -> bool:
    status = "granted" if consent.granted else "withdrawn"
    if current is None:
        return True
    current_status, current_at = current
    if current_status == status:
        return False
    if consent.at is not None:
        return consent.at > clock.utc(current_at)
    return not consent.granted


def _consent_row(contact_id: int, channel: str, consent: ConsentInput, default_source: str,
                 now: datetime) -> dict[str, Any]:
    return {
        "contact_id": contact_id, "channel": channel, "topic": "marketing",
        "status": "granted" if consent.granted else "withdrawn",
        "source": (consent.source or default_source)[:255], "form": None, "wording_version": None,
        "ip": consent.ip, "user_agent": None, "occurred_at": consent.at or now,
    }


def _consent_event(change: dict[str, Any]) -> NewEvent:
    at: datetime = change["occurred_at"]
    key = f"consent:{change['contact_id']}:{change['channel']}:marketing:{change['status']}:{at.isoformat()}"
    properties = {name: change[name] for name in ("channel", "topic", "status", "source", "form",
                                                  "wording_version", "ip", "user_agent")}
    return NewEvent("consent.changed", key, change["contact_id"], at, properties=properties)
