"""Journey events on the contact's timeline — `journey.entered`, `journey.step`, `journey.exited` — written set-based
through the one timeline writer, with dedupe keys derived from the enrollment (a replayed batch adds nothing)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, func, literal, select
from sqlalchemy.orm import Session

from contacts.timeline import record_events_from_select
from core.dialect import json_object
from core.models import Enrollment, UTCDateTime
from journeys.batch import B, acting

PREFIX = "journey:"
E = Enrollment.__table__.c


def _key(enrollment_id: Any, suffix: str) -> Any:
    return literal(PREFIX, String) + cast(enrollment_id, String) + literal(suffix, String)


def _row(contact_id: Any, event_type: str, at: datetime, properties: Any, key: Any) -> list[Any]:
    return [contact_id.label("contact_id"), literal(event_type, String).label("type"),
            literal(at, UTCDateTime()).label("occurred_at"), properties.label("properties"), key.label("dedupe_key"),
            literal(at, UTCDateTime()).label("created_at")]


def record_entered(session: Session, journey: Any, version: int, ids: list[int], at: datetime) -> int:
    """`journey.entered` for the enrollments just created (ids), holdout flagged."""
    total = 0
    for start in range(0, len(ids), 10_000):
        chunk = ids[start:start + 10_000]
        properties = json_object(session, journey=journey.name, journey_id=journey.id, version=version,
                                 held_out=E.held_out, entry=E.entry_key)
        source = select(*_row(E.contact_id, "journey.entered", at, properties, _key(E.id, ":entered"))) \
            .where(E.id.in_(chunk))
        total += record_events_from_select(session, source)
    return total


def record_steps(session: Session, journey: Any, version: int, step: str, kind: str, at: datetime) -> int:
    """`journey.step` for every batch row whose step acted now: outcome and where it went (not for plain waits:
    their end is the next step). Segments read these through their properties (which step, which outcome): no
    per-contact stats row for them."""
    properties = json_object(session, journey=journey.name, journey_id=journey.id, version=version, step=step,
                             kind=kind, outcome=func.coalesce(B.outcome, ""), next=func.coalesce(B.next_step, ""))
    source = select(*_row(B.contact_id, "journey.step", at, properties, _key(B.enrollment_id, f":step:{step}:1"))) \
        .where(acting())
    return record_events_from_select(session, source, stats=False)


def record_exits(session: Session, journey: Any, version: int, step: str, at: datetime) -> int:
    """`journey.exited` for every batch row that finished (converted, exited by a condition, or completed)."""
    properties = json_object(session, journey=journey.name, journey_id=journey.id, version=version, step=step,
                             status=B.finished, reason=func.coalesce(B.reason, ""))
    source = select(*_row(B.contact_id, "journey.exited", at, properties, _key(B.enrollment_id, ":exited"))) \
        .where(B.finished.is_not(None))
    return record_events_from_select(session, source)


def record_exits_of(session: Session, journey: Any, finished: Any, at: datetime) -> int:
    """`journey.exited` for enrollments ended outside a batch (`finished`: a WHERE over Enrollment)."""
    properties = json_object(session, journey=journey.name, journey_id=journey.id, step=E.step, status=E.status,
                             reason=func.coalesce(E.exit_reason, ""))
    source = select(*_row(E.contact_id, "journey.exited", at, properties, _key(E.id, ":exited"))).where(finished)
    return record_events_from_select(session, source)

