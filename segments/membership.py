"""Set-based membership changes: contacts entering or leaving a segment, with their timeline events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, String, and_, cast, delete, exists, func, literal, select
from sqlalchemy.orm import Session

from contacts.timeline import record_events_from_select
from core.dialect import dialect_insert
from core.models import JSONType, Segment, SegmentMembership, UTCDateTime


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
    )
    result = session.connection().execute(delete(SegmentMembership).where(leaving))
    return int(getattr(result, "rowcount", 0) or 0)


def member_count(session: Session, segment: Segment) -> int:
    """How many contacts are members now."""
    query = select(func.count()).select_from(SegmentMembership).where(SegmentMembership.segment_id == segment.id)
    return int(session.scalar(query) or 0)
