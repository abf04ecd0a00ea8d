"""Writing the contacts an import creates, in bulk: their rows (COPY on PostgreSQL), tags, consents with proof, and
the consents' timeline events and stats built in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ARRAY, BigInteger, ColumnElement, any_, bindparam
from sqlalchemy.orm import Session

from contacts.imports.identity import Entity
from contacts.imports.known_contacts import (
    WRITTEN_COLUMNS,
    consent_events,
    ensure_account_keys,
    ensure_tags,
    written_values,
)
from contacts.imports.prepare import ACCOUNT, CONSENTS, TAGS, VALUES, ConsentTuple, Record, company_position
from contacts.imports.rows import TAG_LENGTH
from contacts.timeline import record_events_from_select
from core import clock
from core.bulk import Bulk, driver_datetime
from core.models import Consent

CONSTANT_COLUMNS = ("created_at", "updated_at", "email_status", "sms_status", "mail_status", "score")
CONSENT_COLUMNS = ("contact_id", "channel", "topic", "status", "source", "ip", "occurred_at")


def create_contacts(session: Session, new: Sequence[Record | Entity], *, columns: tuple[str, ...],
                    source: str) -> list[int]:
    """Insert the new contacts of a batch in order — records as prepared (their VALUES hold `columns`), entities
    folded from several rows — with their tags and consents; entities get their id; returns the ids in order."""
    if not new:
        return []
    bulk = Bulk(session)
    now = bulk.value(clock.now())
    rows, tags, consents = _rows(session, bulk, new, columns, now, source)
    ids = _insert(bulk, (*columns, "account_id", *CONSTANT_COLUMNS), rows)
    for item, contact_id in zip(new, ids, strict=True):
        if type(item) is Entity:
            item.id = contact_id
    _link_tags(session, bulk, ids, tags)
    _add_consents(session, bulk, ids, consents, now)
    return ids


def _rows(session: Session, bulk: Bulk, new: Sequence[Record | Entity], columns: tuple[str, ...], now: Any,
          source: str) -> tuple[list[tuple[Any, ...]], list[tuple[str, ...]], list[tuple[ConsentTuple, ...]]]:
    """The values of each new contact (`columns`, account_id, CONSTANT_COLUMNS; records' accounts found or created
    here), its tags and its consents."""
    company = company_position(columns)
    companies = {item[ACCOUNT]: item[VALUES][company] for item in new
                 if type(item) is tuple and item[ACCOUNT] and company is not None}
    accounts = ensure_account_keys(session, companies)
    constants = (now, now, "unknown", "unknown", "unknown", 0)
    # A new entity only holds values of its rows: of `columns` (and its account).
    from_entity = [*map(WRITTEN_COLUMNS.index, columns), WRITTEN_COLUMNS.index("account_id")]
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
            values = written_values(bulk, item)
            rows.append((*(values[index] for index in from_entity), *constants))
            tags.append(tuple({tag[:TAG_LENGTH] for tag in item.tags}))
            consents.append(tuple(
                (channel, "granted" if consent.granted else "withdrawn", (consent.source or source)[:255], consent.ip,
                 None if consent.at is None else driver_datetime(consent.at, sqlite=bulk.sqlite))
                for channel, consent in sorted(item.consents.items())))
    return rows, tags, consents


def _insert(bulk: Bulk, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[int]:
    if bulk.sqlite:
        return bulk.insert_ids("contacts", columns, rows)
    ids = bulk.next_ids("contacts", len(rows))
    bulk.copy("contacts", ("id", *columns), ((contact_id, *row) for contact_id, row in zip(ids, rows, strict=True)))
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
    """The consents of new contacts (none can exist yet) and their `consent.changed` events, built in SQL."""
    rows = _consent_rows(ids, consents, now)
    if not rows:
        return
    if bulk.sqlite:
        # A contact id SQLite reuses (its contact deleted without foreign keys) may have left consents behind.
        updates = ", ".join(f"{name} = excluded.{name}" for name in CONSENT_COLUMNS[3:])
        bulk.insert("consents", CONSENT_COLUMNS, rows, prepared=True,
                    suffix=f"ON CONFLICT (contact_id, channel, topic) DO UPDATE SET {updates}")
        # One transaction inserted these contacts in order: their ids are consecutive and nobody else's.
        of_consent: ColumnElement[bool] = Consent.contact_id.between(ids[0], ids[-1])
    else:
        bulk.copy("consents", CONSENT_COLUMNS, rows)
        of_consent = Consent.contact_id == any_(bindparam("new_ids", ids, type_=ARRAY(BigInteger)))
    record_events_from_select(session, consent_events(session, of_consent, clock.now()))


def _consent_rows(ids: list[int], consents: list[tuple[ConsentTuple, ...]], now: Any) -> list[tuple[Any, ...]]:
    """CONSENT_COLUMNS of each consent of the new contacts."""
    return [(contact_id, channel, "marketing", status, source, ip, now if at is None else at)
            for contact_id, items in zip(ids, consents, strict=True)
            for channel, status, source, ip, at in items]
