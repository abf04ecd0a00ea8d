"""Bulk writes for imports: accounts by name, contact inserts/updates, tags and consents with proof."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, String, cast, func, literal, select
from sqlalchemy.orm import Session

from contacts.imports.identity import Entity
from contacts.imports.mapping import CONTACT_FIELDS
from contacts.imports.prepare import COUNTRY_TIMEZONES, DEFAULT_STAGE, as_datetime
from contacts.imports.rows import ConsentInput
from contacts.normalise import account_key
from contacts.timeline import record_events_from_select
from core import clock
from core.bulk import Bulk
from core.dialect import dialect_insert, is_sqlite, member
from core.models import Consent, Tag, UTCDateTime

WRITTEN_COLUMNS = (*CONTACT_FIELDS, "attributes", "account_id")


def ensure_accounts(session: Session, names: Iterable[str]) -> dict[str, int]:
    """Account id per company name key, creating the missing accounts (one select, one insert)."""
    by_key: dict[str, str] = {}
    for name in names:
        by_key.setdefault(account_key(name), name)
    return ensure_account_keys(session, by_key)


def ensure_account_keys(session: Session, by_key: dict[str, str]) -> dict[str, int]:
    """Account id per name key (`contacts.normalise.account_key`) of the companies named, creating the missing."""
    by_key = {key: name for key, name in by_key.items() if key}
    if not by_key:
        return {}
    bulk = Bulk(session)
    lookup = "SELECT name_key, id FROM accounts WHERE name_key IN"
    found: dict[str, int] = {key: account_id for key, account_id in bulk.select_in(lookup, sorted(by_key))}
    missing = sorted(set(by_key) - set(found))
    if missing:
        now = clock.now()
        rows: list[tuple[Any, ...]] = [(by_key[key][:255], key, {}, now, now) for key in missing]
        inserted = bulk.insert("accounts", ("name", "name_key", "attributes", "created_at", "updated_at"), rows,
                               suffix="ON CONFLICT (name_key) DO NOTHING", returning="name_key, id")
        if raced := sorted(set(missing) - {key for key, _ in inserted}):  # created meanwhile by another writer
            inserted += bulk.select_in(lookup, raced)
        found.update({key: account_id for key, account_id in inserted})
    return found


def link_accounts(session: Session, entities: Sequence[Entity]) -> None:
    """Set `account_id` from the company name on entities whose company is new or changed."""
    needing = [entity for entity in entities
               if entity.fields.get("company") and (entity.company_changed or not entity.fields.get("account_id"))]
    accounts = ensure_accounts(session, (entity.fields["company"] for entity in needing))
    for entity in needing:
        entity.fields["account_id"] = accounts.get(account_key(entity.fields["company"]))


_TIMEZONE, _COUNTRY, _STAGE, _BIRTH_DATE = map(CONTACT_FIELDS.index, ("timezone", "country", "lifecycle_stage",
                                                                       "birth_date"))


def written_values(bulk: Bulk, entity: Entity) -> list[Any]:
    """The WRITTEN_COLUMNS of an entity, already in the driver's types (its timezone defaulted from its country)."""
    fields = entity.fields
    values = list(map(fields.get, CONTACT_FIELDS))
    if not values[_TIMEZONE] and values[_COUNTRY]:
        values[_TIMEZONE] = COUNTRY_TIMEZONES.get(str(values[_COUNTRY]))
    values[_STAGE] = values[_STAGE] or DEFAULT_STAGE
    if values[_BIRTH_DATE] is not None:
        values[_BIRTH_DATE] = bulk.value(values[_BIRTH_DATE])
    values.append(bulk.value(entity.attributes))
    values.append(fields.get("account_id"))
    return values


def update_contacts(session: Session, entities: Sequence[Entity]) -> None:
    """Write changed entities back (one executemany UPDATE by primary key)."""
    if not entities:
        return
    bulk = Bulk(session)
    now = bulk.value(clock.now())
    rows = [[*written_values(bulk, entity), now, entity.id] for entity in entities]
    assignments = ", ".join(f"{name} = ?" for name in (*WRITTEN_COLUMNS, "updated_at"))
    bulk.executemany(f"UPDATE contacts SET {assignments} WHERE id = ?", rows)


def ensure_tags(session: Session, names: set[str]) -> dict[str, int]:
    """Tag id per name, creating the missing tags."""
    connection = session.connection()
    tag_ids = dict(connection.execute(select(Tag.name, Tag.id).where(Tag.name.in_(names))).tuples().all())
    if missing := sorted(names - set(tag_ids)):
        connection.execute(dialect_insert(session)(Tag.__table__).on_conflict_do_nothing(index_elements=["name"]),
                           [{"name": name} for name in missing])
        tag_ids.update(connection.execute(select(Tag.name, Tag.id).where(Tag.name.in_(missing))).tuples().all())
    return tag_ids


def add_tags(session: Session, entities: Sequence[Entity]) -> set[int]:
    """Attach the entities' tags (creating tags as needed); returns ids of contacts that gained a tag."""
    wanted = {(entity.id, tag[:120]) for entity in entities if entity.id is not None for tag in entity.tags}
    if not wanted:
        return set()
    tag_ids = ensure_tags(session, {tag for _, tag in wanted})
    known = sorted({entity.id for entity in entities if entity.id is not None and entity.original is not None
                    and entity.tags})  # contacts created by this batch have no tags yet
    existing = set(Bulk(session).select_in("SELECT contact_id, tag_id FROM contact_tags WHERE contact_id IN",
                                           known)) if known else set()
    new_links = sorted({(contact_id, tag_ids[tag]) for contact_id, tag in wanted} - existing)
    Bulk(session).insert("contact_tags", ("contact_id", "tag_id"), new_links, suffix="ON CONFLICT DO NOTHING")
    return {contact_id for contact_id, _ in new_links}


def apply_consents(session: Session, entities: Sequence[Entity], *, default_source: str) -> set[int]:
    """Record imported consents with proof where they change something; returns the contacts changed.

    An import never overrides a more recent consent: a dated row applies when its date is newer than the
    recorded consent; an undated row may withdraw but never re-grants over a withdrawal.
    """
    consenting = sorted((entity for entity in entities if entity.id is not None and entity.consents),
                        key=lambda entity: entity.id or 0)  # a stable order avoids deadlocks between writers
    if not consenting:
        return set()
    bulk = Bulk(session)
    known = [entity.id for entity in consenting if entity.original is not None]  # contacts created now have none
    rows = bulk.select_in(
        "SELECT contact_id, channel, status, occurred_at FROM consents WHERE topic = 'marketing' AND contact_id IN",
        known) if known else []
    current = {(contact_id, channel): (status, as_datetime(at)) for contact_id, channel, status, at in rows}
    now = clock.now()
    changes = [
        (entity.id, channel, "marketing", "granted" if consent.granted else "withdrawn",
         (consent.source or default_source)[:255], None, None, consent.ip, None, consent.at or now)
        for entity in consenting for channel, consent in sorted(entity.consents.items())
        if _consent_applies(consent, current.get((entity.id or 0, channel)))
    ]
    if not changes:
        return set()
    names = ("contact_id", "channel", "topic", "status", "source", "form", "wording_version", "ip", "user_agent",
             "occurred_at")
    updates = ", ".join(f"{name} = excluded.{name}" for name in names[3:])
    written = bulk.insert("consents", names, changes, returning="id",
                          suffix=f"ON CONFLICT (contact_id, channel, topic) DO UPDATE SET {updates}")
    ids = sorted(consent_id for (consent_id,) in written)
    for start in range(0, len(ids), 10_000):
        written_now = member(session, Consent.id, ids[start:start + 10_000])
        record_events_from_select(session, consent_events(session, written_now, now))
    return {int(change[0] or 0) for change in changes}


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


def consent_events(session: Session, which: ColumnElement[bool], now: datetime) -> Select[Any]:
    """`consent.changed` timeline rows for the consents `which` selects, carrying their proof, built in SQL (an
    import writes one per row): the set-based twin of `contacts.consent.set_consent`'s event."""
    table = Consent.__table__
    proof = [table.c[name] for name in ("channel", "topic", "status", "source", "form", "wording_version", "ip",
                                        "user_agent")]
    pairs = [part for column in proof for part in (literal(column.name, String), column)]
    if is_sqlite(session):
        properties: Any = func.json_object(*pairs)
        moment: Any = table.c.occurred_at  # stored as UTC text already
    else:
        properties = func.jsonb_build_object(*pairs)
        moment = func.to_char(func.timezone("UTC", table.c.occurred_at), "YYYY-MM-DD HH24:MI:SS.US")
    key = literal("consent:", String) + cast(table.c.contact_id, String)
    for part in (table.c.channel, table.c.topic, table.c.status, moment):
        key = key + literal(":", String) + cast(part, String)  # String on both sides: `||`, never arithmetic
    return select(
        table.c.contact_id.label("contact_id"), literal("consent.changed", String).label("type"),
        table.c.occurred_at.label("occurred_at"), properties.label("properties"), key.label("dedupe_key"),
        literal(now, UTCDateTime()).label("created_at"),
    ).where(which)
