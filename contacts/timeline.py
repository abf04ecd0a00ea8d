"""Writing to and reading from the timeline: idempotent event inserts that keep per-contact stats."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

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


def _record_chunk(session: Session, events: Sequence[NewEvent]) -> int:
    unique = {item.dedupe_key: item for item in events}
    rows = [
        {
            "contact_id": item.contact_id,
            "type": item.type,
            "occurred_at": item.occurred_at,
            "campaign_id": item.campaign_id,
            "message_id": item.message_id,
            "properties": item.properties,
            "dedupe_key": item.dedupe_key,
            "created_at": clock.now(),
        }
        for item in unique.values()
    ]
    insert = dialect_insert(session)
    statement = (
        insert(Event).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(Event.dedupe_key)
    )
    new_keys = set(session.scalars(statement, rows).all()) if rows else set()
    _bump_stats(session, [unique[key] for key in new_keys])
    return len(new_keys)


def _bump_stats(session: Session, events: Sequence[NewEvent]) -> None:
    totals: dict[tuple[int, str], dict[str, Any]] = {}
    for item in events:
        if item.contact_id is None:
            continue
        at = clock.utc(item.occurred_at)
        entry = totals.setdefault(
            (item.contact_id, item.type),
            {"contact_id": item.contact_id, "type": item.type, "count": 0,
             "first_at": at, "last_at": at, "total": Decimal(0)},
        )
        entry["count"] += 1
        entry["first_at"] = min(entry["first_at"], at)
        entry["last_at"] = max(entry["last_at"], at)
        entry["total"] += item.value
    if not totals:
        return
    insert = dialect_insert(session)
    statement = insert(ContactEventStat)
    statement = statement.on_conflict_do_update(
        index_elements=["contact_id", "type"],
        set_={
            "count": ContactEventStat.count + statement.excluded.count,
            "first_at": least(session)(ContactEventStat.first_at, statement.excluded.first_at),
            "last_at": greatest(session)(ContactEventStat.last_at, statement.excluded.last_at),
            "total": ContactEventStat.total + statement.excluded.total,
        },
    )
    session.execute(statement, sorted(totals.values(), key=lambda row: (row["contact_id"], row["type"])))


def timeline(session: Session, contact_id: int, *, limit: int = 100) -> list[Event]:
    """A contact's events, newest first."""
    query = (
        select(Event)
        .where(Event.contact_id == contact_id)
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))
