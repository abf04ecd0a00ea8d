"""Entering a journey, set-based: one INSERT…SELECT of enrollments from a source of contacts (trigger events,
anniversaries, a segment, a list), with the re-entry rule, the holdout draw and `journey.entered` events. The
database refuses a second active enrollment of a contact (and, for `re_entry: never`, any second one)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, and_, cast, exists, literal, not_, select, update
from sqlalchemy.orm import Session

from campaigns import hashing
from core.dialect import dialect_insert
from core.models import Contact, Enrollment, Journey, UTCDateTime
from journeys import events
from journeys.arrival import set_next_due
from journeys.batch import BATCH, B, claim_ids
from journeys.checks import JourneySpec
from journeys.clocktime import Duration
from journeys.conditions import Anchor, compile_journey_condition
from journeys.language import ReEntryAfter

ENROLL_COLUMNS = ["journey_id", "version_id", "contact_id", "entry_key", "status", "step", "due_at", "arrived_at",
                  "held_out", "entered_at"]


def entry_key(spec: JourneySpec, occurrence: Any) -> Any:
    """SQL for the entry key: "once" for `re_entry: never` (at most one enrollment ever), else the occurrence."""
    if spec.document.re_entry_rule == "never":
        return literal("once", String)
    return occurrence


def _already_there(session: Session, spec: JourneySpec, now: datetime) -> list[Any]:
    """Contacts who would leave at once (goal met, exit condition) are not enrolled."""
    anchor = Anchor(literal(None, Integer), literal(now, UTCDateTime()))
    return [compile_journey_condition(session, condition, anchor) for condition in
            [spec.goal, *[item.condition for item in spec.exits]] if condition is not None]


def enroll(session: Session, journey: Journey, version_id: int, version: int, spec: JourneySpec, source: Any,
           now: datetime, *, default_timezone: str) -> int:
    """Enroll the contacts of `source` (a subquery with contact_id and occurrence, the entry's distinguishing
    text); returns how many enrollments were created. A journey that starts with a wait starts counting now."""
    hashing.prepare(session)
    skip = _already_there(session, spec, now)
    conditions = [Contact.erased_at.is_(None), *[not_(condition) for condition in skip]]
    rule = spec.document.re_entry_rule
    if isinstance(rule, ReEntryAfter):
        since = now - Duration.parse(rule.after).elapsed
        conditions.append(~exists().where(Enrollment.journey_id == journey.id, Enrollment.contact_id == Contact.id,
                                          Enrollment.entered_at > since))
    held_out = hashing.bucket_sql(session, f"journey-holdout:{journey.id}", Contact.id) < hashing.threshold(
        spec.document.holdout)
    moment = literal(now, UTCDateTime())
    rows = (select(literal(journey.id), literal(version_id), Contact.id, entry_key(spec, source.c.occurrence),
                   literal("active", String), literal(spec.first_step, String), moment, moment, held_out, moment)
            .select_from(source.join(Contact, Contact.id == source.c.contact_id))
            .where(and_(*conditions)).order_by(Contact.id))
    statement = (dialect_insert(session)(Enrollment).from_select(ENROLL_COLUMNS, rows).on_conflict_do_nothing()
                 .returning(Enrollment.id))
    ids = [int(value) for value in session.scalars(statement)]
    if ids:
        events.record_entered(session, journey, version, ids, now)
    if ids and spec.kinds[spec.first_step] == "wait":
        for start in range(0, len(ids), 10_000):
            claim_ids(session, select(Enrollment.id).where(Enrollment.id.in_(ids[start:start + 10_000])))
            session.execute(update(BATCH).values(next_step=spec.first_step))
            set_next_due(session, spec, now, default_timezone)
            session.execute(update(Enrollment).where(Enrollment.id == B.enrollment_id).values(due_at=B.next_due),
                            execution_options={"synchronize_session": False})
    return len(ids)


def occurrence_text(prefix: str, value: Any) -> Any:
    """`prefix` + value as SQL text (an event id, a date)."""
    return literal(prefix, String) + cast(value, String)
