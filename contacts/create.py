"""Writing the contacts an import creates, in bulk: their rows (COPY on PostgreSQL), tags, consents with proof, and
the consents' timeline events and stats built in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ARRAY, BigInteger, ColumnElement, any_, bindparam, func, literal, select
from sqlalchemy.orm import Session

from contacts.bulk import WRITTEN_COLUMNS, consent_events, ensure_account_keys, ensure_tags, written_values
from contacts.fastsql import Bulk, driver_datetime
from contacts.prepare import ACCOUNT, CONSENTS, TAGS, VALUES, Record
from contacts.resolve import Entity
from core import clock
from core.db import dialect_insert, greatest, least
from core.models import Consent, ContactEventStat, Event

CREATED_COLUMNS = (*WRITTEN_COLUMNS, "created_at", "updated_at", "email_status", "sms_status", "mail_status", "score")
CONSENT_COLUMNS = ("contact_id", "channel", "topic", "status", "source", "ip", "occurred_at")
_COMPANY = WRITTEN_COLUMNS.index("company")
ConsentTuple = tuple[str, str, str, str | None, Any]  # channel, status, source, ip, occurred_at (driver form or None)


def create_contacts(session: Session, new: Sequence[Record | Entity], *, source: str) -> list[int]:
    """Insert the new contacts of a batch in order — records as prepared, entities folded from several rows — with
    their tags and consents; entities get their id, and the ids are returned in order."""
    if not new:
        return []
    bulk = Bulk(session)
    now = bulk.value(clock.now())
    rows, tags, consents = _rows(session, bulk, new, now, source)
    ids = _insert(bulk, rows)
    for item, contact_id in zip(new, ids, strict=True):
        if type(item) is Entity:
            item.id = contact_id
    _link_tags(session, bulk, ids, tags)
    _add_consents(session, bulk, ids, consents, now)
    return ids


def _rows(session: Session, bulk: Bulk, new: Sequence[Record | Entity], now: Any,
          source: str) -> tuple[list[tuple[Any, ...]], list[tuple[str, ...]], list[tuple[ConsentTuple, ...]]]:
    """CREATED_COLUMNS of each new contact (records' accounts found or created here), its tags and consents."""
    companies = {item[ACCOUNT]: item[VALUES][_COMPANY] for item in new if type(item) is tuple and item[ACCOUNT]}
    accounts = ensure_account_keys(session, companies)
    constants = (now, now, "unknown", "unknown", "unknown", 0)
    rows: list[tuple[Any, ...]] = []
    tags: list[tuple[str, ...]] = []
    consents: list[tuple[ConsentTuple, ...]] = []
    for item in new:
        if type(item) is tuple:
            rows.append(item[VALUES] + (accounts.get(item[ACCOUNT]),) + constants)
            tags.append(item[TAGS])
            consents.append(item[CONSENTS])
        else:
            assert isinstance(item, Entity)
            rows.append((*written_values(bulk, item), *constants))
            tags.append(tuple({tag[:120] for tag in item.tags}))
            consents.append(tuple(
                (channel, "granted" if consent.granted else "withdrawn", (consent.source or source)[:255], consent.ip,
                 None if consent.at is None else driver_datetime(consent.at, sqlite=bulk.sqlite))
                for channel, consent in sorted(item.consents.items())))
    return rows, tags, consents


def _insert(bulk: Bulk, rows: list[tuple[Any, ...]]) -> list[int]:
    if bulk.sqlite:
        return bulk.insert_ids("contacts", CREATED_COLUMNS, rows)
    ids = bulk.next_ids("contacts", len(rows))
    bulk.copy("contacts", ("id", *CREATED_COLUMNS), ((contact_id, *row) for contact_id, row in zip(ids, rows,
                                                                                                   strict=True)))
    return ids


def _link_tags(session: Session, bulk: Bulk, ids: list[int], tags: list[tuple[str, ...]]) -> None:
    names = set().union(*tags)
    if not names:
        return
    tag_ids = ensure_tags(session, names)
    links = [(contact_id, tag_ids[name]) for contact_id, names_of in zip(ids, tags, strict=True) for name in names_of]
    if bulk.sqlite:
        bulk.insert("contact_tags", ("contact_id", "tag_id"), links, suffix="ON CONFLICT DO NOTHING", prepared=True)
    else:
        bulk.copy("contact_tags", ("contact_id", "tag_id"), links)


def _add_consents(session: Session, bulk: Bulk, ids: list[int], consents: list[tuple[ConsentTuple, ...]],
                  now: Any) -> None:
    """The consents of new contacts (none can exist yet), then their `consent.changed` events and stats in SQL."""
    rows = [(contact_id, channel, "marketing", status, source, ip, now if at is None else at)
            for contact_id, items in zip(ids, consents, strict=True) if items
            for channel, status, source, ip, at in items]
    if not rows:
        return
    if bulk.sqlite:
        # A contact id SQLite reuses (its contact deleted without foreign keys) may have left consents behind.
        updates = ", ".join(f"{name} = excluded.{name}" for name in CONSENT_COLUMNS[3:])
        bulk.insert("consents", CONSENT_COLUMNS, rows, prepared=True,
                    suffix=f"ON CONFLICT (contact_id, channel, topic) DO UPDATE SET {updates}")
        # One transaction inserted these contacts in order: their ids are consecutive and nobody else's.
        of_consent: ColumnElement[bool] = Consent.contact_id.between(ids[0], ids[-1])
        of_event: ColumnElement[bool] = Event.contact_id.between(ids[0], ids[-1])
    else:
        bulk.copy("consents", CONSENT_COLUMNS, rows)
        new_ids = bindparam("new_ids", ids, type_=ARRAY(BigInteger))
        of_consent, of_event = Consent.contact_id == any_(new_ids), Event.contact_id == any_(new_ids)
    _consent_events(session, of_consent, of_event)


def _consent_events(session: Session, of_consent: ColumnElement[bool], of_event: ColumnElement[bool]) -> None:
    """Events of the new contacts' consents (INSERT…SELECT), then the stats of exactly the events inserted."""
    insert = dialect_insert(session)
    connection = session.connection()
    before = session.scalar(select(func.coalesce(func.max(Event.id), 0)))
    source = consent_events(session, of_consent, clock.now())
    columns = [column.key for column in source.selected_columns]
    connection.execute(insert(Event.__table__).from_select(columns, source)
                       .on_conflict_do_nothing(index_elements=["dedupe_key"]))
    after = session.scalar(select(func.max(Event.id)))
    if after is None or after == before:
        return
    totals = (
        select(Event.contact_id, Event.type, func.count(), func.min(Event.occurred_at), func.max(Event.occurred_at),
               literal(0))
        # A closed id range keeps SQLite on the rowid (the type index would tempt it into reading every event).
        .where(Event.id > before, Event.id <= after, of_event, Event.type == "consent.changed")
        .group_by(Event.contact_id, Event.type)
    )
    statement = insert(ContactEventStat.__table__).from_select(
        ["contact_id", "type", "count", "first_at", "last_at", "total"], totals)
    connection.execute(statement.on_conflict_do_update(
        index_elements=["contact_id", "type"],
        set_={"count": ContactEventStat.count + statement.excluded.count,
              "first_at": least(session)(ContactEventStat.first_at, statement.excluded.first_at),
              "last_at": greatest(session)(ContactEventStat.last_at, statement.excluded.last_at)},
    ))
