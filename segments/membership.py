"""Set-based membership changes: contacts entering or leaving a segment, with their timeline events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, String, and_, cast, delete, exists, func, literal, select
from sqlalchemy.orm import Session

from core.db import dialect_insert, greatest, least
from core.models import ContactEventStat, Event, JSONType, Segment, SegmentMembership, UTCDateTime


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


def _event_source(segment: Segment, contact_ids: Any, change: str, at: datetime) -> Select[Any]:
    """Rows for `events`: one `segment.<change>` per contact id, with a deterministic dedupe key."""
    stamp = at.isoformat()
    key = literal(f"segment:{segment.id}:", String) + cast(contact_ids, String) + literal(f":{change}:{stamp}", String)
    return select(
        contact_ids.label("contact_id"),
        literal(f"segment.{change}", String).label("type"),
        literal(at, UTCDateTime()).label("occurred_at"),
        literal({"segment_id": segment.id, "segment": segment.name}, JSONType).label("properties"),
        key.label("dedupe_key"),
        literal(at, UTCDateTime()).label("created_at"),
    )


def _member(segment: Segment, contact_id: Any) -> Any:
    return exists().where(SegmentMembership.segment_id == segment.id, SegmentMembership.contact_id == contact_id)


def enter(session: Session, segment: Segment, candidates: Select[Any], at: datetime) -> int:
    """Add the contacts selected by `candidates` (one id column) that are not members yet; returns how many."""
    source = candidates.subquery("candidates")
    contact_id = source.c[0]
    record_events_from_select(
        session,
        _event_source(segment, contact_id, "entered", at).where(~_member(segment, contact_id)).order_by(contact_id),
        key_prefix=f"segment:{segment.id}:",
    )
    insert = dialect_insert(session)
    rows = select(literal(segment.id, Integer), contact_id, literal(at, UTCDateTime())).where(
        ~_member(segment, contact_id)
    ).order_by(contact_id)  # index locality: rows arrive in key order
    result = session.connection().execute(
        insert(SegmentMembership.__table__)
        .from_select(["segment_id", "contact_id", "entered_at"], rows)
        .on_conflict_do_nothing(index_elements=["segment_id", "contact_id"]),
        execution_options={"preserve_rowcount": True},
    )
    return int(getattr(result, "rowcount", 0) or 0)


def leave(session: Session, segment: Segment, staying: Any, at: datetime) -> int:
    """Remove the members for which `staying(contact_id)` is false; returns how many left."""
    leaving = and_(SegmentMembership.segment_id == segment.id, ~staying(SegmentMembership.contact_id))
    record_events_from_select(
        session,
        _event_source(segment, SegmentMembership.contact_id, "exited", at).where(leaving)
        .order_by(SegmentMembership.contact_id),
        key_prefix=f"segment:{segment.id}:",
    )
    result = session.connection().execute(delete(SegmentMembership).where(leaving))
    return int(getattr(result, "rowcount", 0) or 0)


def member_count(session: Session, segment: Segment) -> int:
    """How many contacts are members now."""
    query = select(func.count()).select_from(SegmentMembership).where(SegmentMembership.segment_id == segment.id)
    return int(session.scalar(query) or 0)
