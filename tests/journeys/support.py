"""Builders for journey tests: a consenting audience, a published journey from a dict, trigger events, ticks with
the clock moved, and counters over enrollments, the step log and the ledger."""

from __future__ import annotations

import copy
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from contacts.timeline import NewEvent, record_events
from core import clock
from core.models import Contact, Enrollment, EnrollmentStep, Journey, Message
from core.settings import Settings
from journeys.service import get_journey, save_draft
from journeys.tick import TickReport, tick
from journeys.versions import publish
from templates.pipeline import sync_library
from tests.campaign_support import make_audience

FORM = {"event": "form.submitted", "where": {"form": "demo-request"}}


def document(name: str = "nurture", **overrides: Any) -> dict[str, Any]:
    """A small journey: welcome email → wait 2d → branch on click → case study (email) or nudge (sms/email)."""
    base: dict[str, Any] = {
        "name": name, "trigger": FORM,
        "steps": [
            {"id": "welcome", "send": {"channel": "email", "template": "welcome"}},
            {"id": "pause", "wait": "2d"},
            {"id": "clicked", "branch": [{"if": {"step": "welcome", "did": "clicked"}, "goto": "case-study"},
                                         {"else": "nudge"}]},
            {"id": "case-study", "send": {"channel": "email", "template": "nurture-2"}, "goto": "tag"},
            {"id": "nudge", "send": {"channel": ["sms", "email"], "template": {"sms": "sms-offer",
                                                                                "email": "nurture-3"}}},
            {"id": "tag", "update": {"add_tags": ["nurtured"], "score": 10}},
        ],
    }
    base.update(copy.deepcopy(overrides))
    return base


def make_journey(session: Session, settings: Settings, doc: dict[str, Any], *, live: bool = True) -> Journey:
    """Save (and publish) a journey; templates synced first."""
    sync_library(session)
    journey, _ = save_draft(session, doc, actor="test")
    if live:
        publish(session, settings, journey, actor="test")
    session.commit()
    return get_journey(session, doc["name"])


def people(session: Session, count: int, **fields: Any) -> list[Contact]:
    """Contacts with email and SMS consent, Paris time."""
    return make_audience(session, count, channels=("email", "sms"), **fields)


def submit_form(session: Session, contacts: list[Contact], *, at: datetime | None = None,
                form: str = "demo-request") -> None:
    """A `form.submitted` per contact, as the web form records it."""
    moment = at or clock.now()
    record_events(session, [NewEvent("form.submitted", f"form:{form}:{contact.id}:{moment.isoformat()}",
                                     contact.id, moment, properties={"form": form}) for contact in contacts])
    session.commit()


def record(session: Session, contact: Contact, event_type: str, *, at: datetime | None = None,
           message_id: str | None = None, **properties: Any) -> None:
    moment = at or clock.now()
    record_events(session, [NewEvent(event_type, f"{event_type}:{contact.id}:{moment.isoformat()}:{message_id}",
                                     contact.id, moment, message_id=message_id, properties=properties)])
    session.commit()


def advance(engine: Engine, settings: Settings, *, by: timedelta | None = None, **options: Any) -> TickReport:
    """Move the clock (if asked), then run one tick."""
    if by is not None:
        clock.travel(by)
    return tick(engine, settings, **options)


def where_are(session: Session, journey: Journey) -> Counter[tuple[str, str]]:
    """Enrollments per (step, status)."""
    session.expire_all()
    rows = session.execute(select(Enrollment.step, Enrollment.status, func.count())
                           .where(Enrollment.journey_id == journey.id).group_by(Enrollment.step, Enrollment.status))
    return Counter({(step, status): count for step, status, count in rows})


def ledger(session: Session, journey_name: str) -> Counter[tuple[str, str, str]]:
    """Messages per (step, channel, status) of a journey's step campaigns (named journey.vN.step)."""
    from core.models import Campaign

    session.expire_all()
    rows = session.execute(select(Campaign.name, Message.channel, Message.status, func.count())
                           .join(Message, Message.campaign_id == Campaign.id)
                           .where(Campaign.name.like(f"{journey_name}.v%"))
                           .group_by(Campaign.name, Message.channel, Message.status))
    return Counter({(name.split(".")[-1], channel, status): count for name, channel, status, count in rows})


def step_log(session: Session, journey: Journey) -> Counter[tuple[str, str | None]]:
    """Step log rows per (step, next step)."""
    from core.models import JourneyVersion

    session.expire_all()
    rows = session.execute(select(EnrollmentStep.step, EnrollmentStep.next_step, func.count())
                           .join(JourneyVersion, JourneyVersion.id == EnrollmentStep.version_id)
                           .where(JourneyVersion.journey_id == journey.id)
                           .group_by(EnrollmentStep.step, EnrollmentStep.next_step))
    return Counter({(step, next_step): count for step, next_step, count in rows})


def message_of(session: Session, contact: Contact, step: str) -> Message:
    """The ledger row a contact got at a journey step."""
    from core.models import Campaign

    session.expire_all()
    return session.scalars(select(Message).join(Campaign, Campaign.id == Message.campaign_id)
                           .where(Message.contact_id == contact.id, Campaign.name.like(f"%.{step}"))).one()
