"""Where enrollments come from: trigger events in a window of the timeline (segment entries are events too),
anniversaries of a contact date field at a local time, a segment's members, or a list of contacts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, String, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from core.models import Contact, Event
from journeys.checks import JourneySpec
from journeys.clocktime import clock_time
from journeys.enroll import occurrence_text
from journeys.language import DateTrigger
from segments.catalogue import lookup
from segments.compile_context import json_value, month_day
from segments.compiler import make_context
from segments.sql_behaviour import event_filters
from segments.timewindows import zones_by_local_date


def event_source(session: Session, spec: JourneySpec, since: datetime, until: datetime) -> Any:
    """Contacts with a trigger event that occurred in (since, until], one row per event."""
    assert spec.trigger_event is not None
    ctx = make_context(session)
    return (select(Event.contact_id.label("contact_id"), occurrence_text("event:", Event.id).label("occurrence"))
            .where(*event_filters(ctx, spec.trigger_event), Event.occurred_at >= since, Event.occurred_at <= until,
                   Event.contact_id.is_not(None))
            .subquery("triggered"))


def members_source(query: Any, occurrence: str) -> Any:
    """The contacts of a `SELECT id` (a segment's members), all with the same occurrence."""
    ids = query.subquery("members")
    return select(ids.c[0].label("contact_id"), literal(occurrence, String).label("occurrence")).subquery("members")


def keys_source(keys: list[str], occurrence: str) -> Any:
    """Contacts named by email or id (unknown keys are skipped)."""
    emails = [key.strip().lower() for key in keys if "@" in key]
    ids = [int(key) for key in keys if key.strip().isdigit()]
    return select(Contact.id.label("contact_id"), literal(occurrence, String).label("occurrence")) \
        .where(or_(Contact.email.in_(emails), Contact.id.in_(ids))).subquery("listed")


def anniversary_days(day: date) -> list[str]:
    """The MM-DD that celebrate on `day` (29 February celebrates on the 28th in other years)."""
    found = [day.strftime("%m-%d")]
    leap = day.year % 4 == 0 and (day.year % 100 != 0 or day.year % 400 == 0)
    if day.month == 2 and day.day == 28 and not leap:
        found.append("02-29")
    return found


def ready_zones(trigger: DateTrigger, state: dict[str, str], now: datetime) -> dict[date, list[str]]:
    """Per local date, the timezones where `trigger.at` has passed today and today is not done yet."""
    from zoneinfo import ZoneInfo

    at = clock_time(trigger.at)
    ready: dict[date, list[str]] = {}
    for day, zones in zones_by_local_date(now).items():
        chosen = [name for name in zones if now.astimezone(ZoneInfo(name)).time() >= at
                  and state.get(name, "") < day.isoformat()]
        if chosen:
            ready[day] = chosen
    return ready


def anniversary_source(session: Session, trigger: DateTrigger, day: date, zones: list[str],
                       default_timezone: str) -> Any:
    """Contacts in `zones` (no timezone: the default one) whose date field has its anniversary on `day`."""
    ctx = make_context(session)
    spec = lookup(trigger.date)
    if spec.attribute:
        value = month_day(ctx, json_value(ctx, Contact.attributes, spec.column, "string"), text=True)
    else:
        column = getattr(Contact, spec.column)
        value = month_day(ctx, cast(column, Date) if spec.type == "datetime" and not ctx.sqlite else column,
                          text=False)
    in_zone: Any = Contact.timezone.in_(zones)
    if default_timezone in zones:
        in_zone = or_(in_zone, Contact.timezone.is_(None), func.trim(Contact.timezone) == "")
    return (select(Contact.id.label("contact_id"), literal(f"date:{day.isoformat()}", String).label("occurrence"))
            .where(in_zone, value.in_(anniversary_days(day))).subquery("anniversaries"))
