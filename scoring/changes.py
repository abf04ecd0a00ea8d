"""Score and stage changes on the timeline: one event per changed contact, written set-based by the timeline writer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Table, cast, func, literal, select
from sqlalchemy.orm import Session

from contacts.timeline import record_events_from_select
from core import clock
from core.dialect import json_object
from core.models import Event


def record_changes(
    session: Session, changes: Table, *, event_type: str, run_key: str, at: datetime, properties: dict[str, Any]
) -> int:
    """One `event_type` event per row of `changes` (a temp table with contact_id), deduped by run and contact;
    `properties` maps property names to column expressions of `changes`. Returns how many events are new."""
    moment = literal(clock.utc(at), type_=Event.occurred_at.type)
    rows = select(
        changes.c.contact_id.label("contact_id"), literal(event_type, type_=String).label("type"),
        moment.label("occurred_at"), json_object(session, **properties).label("properties"),
        (literal(f"{run_key}:", type_=String) + cast(changes.c.contact_id, String)).label("dedupe_key"),
        literal(clock.utc(at), type_=Event.created_at.type).label("created_at"),
    ).where(changes.c.contact_id.is_not(None))
    return record_events_from_select(session, rows)


def count_rows(session: Session, table: Table) -> int:
    """How many rows a (temp) table holds."""
    return int(session.scalar(select(func.count()).select_from(table)) or 0)
