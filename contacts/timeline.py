"""Writing to and reading from the timeline: idempotent event inserts that keep per-contact stats."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, literal, select
from sqlalchemy.orm import Session

from contacts.fastsql import Bulk
from core import clock
from core.db import dialect_insert, greatest, least
from core.models import ContactEventStat, Event


@dataclass(frozen=True)
class NewEvent:
    """An event to record; `dedupe_key` must identify the real-world occurrence (e.g. provider event id)."""

    type: str
    dedupe_key: str
    contact_id: int | None
    occurred_at: datetime
    campaign_id: int | None = None
    message_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    value: Decimal = Decimal(0)  # summed into the contact's stats (conversion amount, ...)


def record_events(session: Session, events: Iterable[NewEvent], *, chunk: int = 2000) -> int:
    """Insert the events not seen before (by dedupe_key) and update stats; returns how many were new."""
    inserted = 0
    batch: list[NewEvent] = []
    for item in events:
        batch.append(item)
        if len(batch) >= chunk:
            inserted += _record_chunk(session, batch)
            batch = []
    if batch:
        inserted += _record_chunk(session, batch)
    return inserted


_EVENT_COLUMNS = ("contact_id", "type", "occurred_at", "campaign_id", "message_id", "properties", "dedupe_key",
                  "created_at")


def _record_chunk(session: Session, events: Sequence[NewEvent]) -> int:
    unique = {item.dedupe_key: item for item in events}
    if not unique:
        return 0
    now = clock.now()
    rows = [
        (item.contact_id, item.type, item.occurred_at, item.campaign_id, item.message_id, item.properties,
         item.dedupe_key, now)
        for item in unique.values()
    ]
    session.flush()  # pending ORM objects (e.g. a new contact) must exist before their events
    # Multi-row INSERT ... ON CONFLICT DO NOTHING RETURNING lists exactly the rows inserted.
    returned = Bulk(session).insert(
        "events", _EVENT_COLUMNS, rows, suffix="ON CONFLICT (dedupe_key) DO NOTHING", returning="dedupe_key"
    )
    new_keys = {key for (key,) in returned}
    _bump_stats(session, [unique[key] for key in new_keys])
    return len(new_keys)


def _bump_stats(session: Session, events: Sequence[NewEvent]) -> None:
    totals: dict[tuple[int, str], list[Any]] = {}
    for item in events:
        if item.contact_id is None:
            continue
        at = clock.utc(item.occurred_at)
        entry = totals.get((item.contact_id, item.type))
        if entry is None:
            totals[(item.contact_id, item.type)] = [item.contact_id, item.type, 1, at, at, Decimal(item.value)]
            continue
        entry[2] += 1
        entry[3] = min(entry[3], at)
        entry[4] = max(entry[4], at)
        entry[5] += item.value
    if not totals:
        return
    bulk = Bulk(session)
    smallest, largest = ("min", "max") if bulk.sqlite else ("least", "greatest")
    table = "contact_event_stats"
    suffix = (
        f"ON CONFLICT (contact_id, type) DO UPDATE SET count = {table}.count + excluded.count, "
        f"first_at = {smallest}({table}.first_at, excluded.first_at), "
        f"last_at = {largest}({table}.last_at, excluded.last_at), total = {table}.total + excluded.total"
    )
    rows = [totals[key] for key in sorted(totals)]  # a stable order avoids deadlocks between writers
    bulk.insert(table, ("contact_id", "type", "count", "first_at", "last_at", "total"), rows, suffix=suffix)


def record_events_from_select(session: Session, source: Select[Any], *, key_prefix: str) -> int:
    """Set-based `contacts.timeline.record_events`: INSERT…SELECT events from `source` (columns labelled like
    Event's, every dedupe_key starting with `key_prefix`), skipping known keys, then bump the per-contact
    stats from exactly the rows just inserted (ids above the previous maximum, with that key prefix)."""
    before = session.scalar(select(func.coalesce(func.max(Event.id), 0)))
    insert = dialect_insert(session)
    columns = [column.key for column in source.selected_columns]
    added = session.connection().execute(
        insert(Event.__table__).from_select(columns, source).on_conflict_do_nothing(index_elements=["dedupe_key"]),
        execution_options={"preserve_rowcount": True},
    ).rowcount
    if not added:
        return 0
    after = session.scalar(select(func.max(Event.id)))
    fresh = (
        select(Event.contact_id, Event.type, func.count(), func.min(Event.occurred_at), func.max(Event.occurred_at),
               literal(0))
        # A closed id range keeps SQLite on the rowid (an open one tempts it into the contact_id index).
        .where(Event.id > before, Event.id <= after, Event.dedupe_key.startswith(key_prefix, autoescape=True),
               Event.contact_id.is_not(None))
        .group_by(Event.contact_id, Event.type)
        .order_by(Event.contact_id, Event.type)
    )
    stat_columns = ["contact_id", "type", "count", "first_at", "last_at", "total"]
    statement = insert(ContactEventStat.__table__).from_select(stat_columns, fresh)
    statement = statement.on_conflict_do_update(
        index_elements=["contact_id", "type"],
        set_={
            "count": ContactEventStat.count + statement.excluded.count,
            "first_at": least(session)(ContactEventStat.first_at, statement.excluded.first_at),
            "last_at": greatest(session)(ContactEventStat.last_at, statement.excluded.last_at),
        },
    )
    session.connection().execute(statement)
    return int(added or 0)


def timeline(session: Session, contact_id: int, *, limit: int = 100) -> list[Event]:
    """A contact's events, newest first."""
    query = (
        select(Event)
        .where(Event.contact_id == contact_id)
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))
