"""Set-based timeline writes for score and stage changes: INSERT…SELECT into events plus the per-contact stats."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, Table, cast, func, literal, select
from sqlalchemy.orm import Session

from core import clock
from core.db import dialect_insert, greatest, least
from core.models import ContactEventStat, Event
from scoring.sql import json_object


def record_changes(
    session: Session, changes: Table, *, event_type: str, run_key: str, at: datetime, properties: dict[str, Any]
) -> int:
    """One `event_type` event per row of `changes` (a temp table with contact_id), deduped by run and contact.

    `properties` maps property names to column expressions of `changes`. The contact's stats row for the type
    is bumped in the same statement set, as `contacts.timeline.record_events` would.
    """
    moment = literal(clock.utc(at), type_=Event.occurred_at.type)
    dedupe = literal(f"{run_key}:", type_=String) + cast(changes.c.contact_id, String)
    rows = select(
        changes.c.contact_id, literal(event_type, type_=String), moment,
        json_object(session, **properties), dedupe, literal(clock.utc(at), type_=Event.created_at.type),
    ).where(changes.c.contact_id.is_not(None))
    columns = ["contact_id", "type", "occurred_at", "properties", "dedupe_key", "created_at"]
    statement = dialect_insert(session)(Event).from_select(columns, rows)
    result: Any = session.execute(statement.on_conflict_do_nothing(index_elements=["dedupe_key"]))
    inserted = result.rowcount
    _bump_stats(session, changes, event_type, at)
    return int(inserted or 0)


def _bump_stats(session: Session, changes: Table, event_type: str, at: datetime) -> None:
    moment = literal(clock.utc(at), type_=ContactEventStat.last_at.type)
    rows = select(
        changes.c.contact_id, literal(event_type, type_=String), literal(1, type_=Integer), moment, moment,
        literal(0, type_=Integer),
    ).where(changes.c.contact_id.is_not(None))
    statement = dialect_insert(session)(ContactEventStat).from_select(
        ["contact_id", "type", "count", "first_at", "last_at", "total"], rows
    )
    statement = statement.on_conflict_do_update(
        index_elements=["contact_id", "type"],
        set_={
            "count": ContactEventStat.count + statement.excluded.count,
            "first_at": least(session)(ContactEventStat.first_at, statement.excluded.first_at),
            "last_at": greatest(session)(ContactEventStat.last_at, statement.excluded.last_at),
        },
    )
    session.execute(statement)


def count_rows(session: Session, table: Table) -> int:
    """How many rows a (temp) table holds."""
    return int(session.scalar(select(func.count()).select_from(table)) or 0)

