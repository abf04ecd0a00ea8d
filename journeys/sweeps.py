"""What new events do to waiting enrollments, driven by the events (never a poll per contact): an awaited event
wakes its wait (due now), a goal or exit met ends the enrollment at once, and a contact who became unreachable
loses the journey messages still queued for them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from core.dialect import rowcount
from core.ledger import cancel_unclaimed_of
from core.models import Contact, Enrollment, EnrollmentStep, Event, Message
from journeys import events
from journeys.batch import B, claim_ids
from journeys.checks import JourneySpec
from journeys.conditions import Condition, EventSince, Group, Negation
from journeys.sends import cancel_open_messages
from journeys.steps import judge, move
from segments.compiler import make_context
from segments.reachability import reachable_condition
from segments.sql_behaviour import event_filters

# Events after which a contact may have become unreachable or met a goal stated on its record.
STATE_EVENTS = ("consent.changed", "email.unsubscribed", "email.bounced", "email.complained", "sms.failed",
                "mail.returned", "stage.changed", "conversion", "contact.merged", "score.changed")
UNREACHABLE_EVENTS = ("consent.changed", "email.unsubscribed", "email.bounced", "email.complained", "sms.failed",
                      "mail.returned")


@dataclass(frozen=True)
class Window:
    """Events that occurred in [since, until] (windows overlap: what they trigger is idempotent)."""

    since: datetime
    until: datetime

    def of(self, types: tuple[str, ...] | list[str]) -> Any:
        return and_(Event.type.in_(list(types)), Event.occurred_at >= self.since, Event.occurred_at <= self.until)


def wake(session: Session, journey_id: int, version_id: int, step: str, spec: JourneySpec, window: Window,
         now: datetime) -> int:
    """Enrollments waiting at an event wait whose event came (after they started waiting): due now."""
    awaited = spec.waits_for[step]
    wait = spec.document.step(step).wait
    ctx = make_context(session)
    matched = [*event_filters(ctx, awaited), Event.occurred_at >= window.since, Event.occurred_at <= window.until,
               Event.occurred_at >= Enrollment.arrived_at]
    if wait.step is not None:
        sent = select(EnrollmentStep.message_id).where(EnrollmentStep.enrollment_id == Enrollment.id,
                                                       EnrollmentStep.step == wait.step)
        matched.append(Event.message_id == sent.scalar_subquery())
    woken = (select(Enrollment.id).join(Event, Event.contact_id == Enrollment.contact_id)
             .where(Enrollment.journey_id == journey_id, Enrollment.status == "active",
                    Enrollment.version_id == version_id, Enrollment.step == step, Enrollment.woken_at.is_(None),
                    *matched))
    result = session.execute(update(Enrollment).where(Enrollment.id.in_(woken)).values(due_at=now, woken_at=now),
                             execution_options={"synchronize_session": False})
    return rowcount(result)


def event_types(condition: Condition | None) -> list[str]:
    """The event types a goal or exit condition reads (a new one of those may end an enrollment)."""
    if isinstance(condition, EventSince):
        return [condition.condition.event]
    if isinstance(condition, Group):
        return [name for child in condition.children for name in event_types(child)]
    if isinstance(condition, Negation):
        return event_types(condition.child)
    node = getattr(condition, "node", None)
    return [node.event] if node is not None and hasattr(node, "event") else []


def touched_contacts(spec: JourneySpec, window: Window) -> Any:
    """Contacts with an event in the window that may have made them meet a goal or exit condition."""
    types = {*STATE_EVENTS, *event_types(spec.goal), *[name for item in spec.exits for name in
                                                       event_types(item.condition)]}
    return select(Event.contact_id).where(window.of(sorted(types)), Event.contact_id.is_not(None))


def finish_met(session: Session, journey: Any, spec: JourneySpec, enrollments: Any, step_campaigns: list[int],
               now: datetime) -> dict[str, int]:
    """Judge the active enrollments selected by `enrollments` (a select of ids) against the goal and exits; those
    that meet one end now (counted by reason), the others are left as they are."""
    if spec.goal is None and not spec.exits:
        return {}
    claim_ids(session, enrollments)
    judge(session, spec)
    query = select(B.reason, func.count()).where(B.finished.is_not(None)).group_by(B.reason)
    counts = {str(reason): int(count) for reason, count in session.execute(query)}
    if not counts:
        return {}
    left = select(B.contact_id, B.enrollment_id).where(B.verdict.is_not(None)).subquery("left")
    cancel_open_messages(session, step_campaigns, left, "left the journey")
    move(session, now, only_finished=True)
    events.record_exits_of(session, journey, Enrollment.id.in_(select(B.enrollment_id).where(B.finished.is_not(None))),
                           now)
    return counts


def active_of(journey_id: int, contacts: Any) -> Any:
    return select(Enrollment.id).where(Enrollment.journey_id == journey_id, Enrollment.status == "active",
                                       Enrollment.contact_id.in_(contacts))


def cancel_unreachable(session: Session, step_campaigns: list[int], window: Window) -> int:
    """Journey messages still queued for contacts who, since, became unreachable on their channel."""
    if not step_campaigns:
        return 0
    touched = select(Event.contact_id).where(window.of(UNREACHABLE_EVENTS), Event.contact_id.is_not(None))
    ctx = make_context(session)
    cancelled = 0
    for channel in ("email", "sms", "mail"):
        lost = select(Contact.id).where(Contact.id.in_(touched), ~reachable_condition(ctx, channel))
        cancelled += cancel_unclaimed_of(session, step_campaigns, and_(Message.channel == channel,
                                                                       Message.contact_id.in_(lost)),
                                         reason="unreachable")
    return cancelled

