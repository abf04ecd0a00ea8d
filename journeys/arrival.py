"""When an enrollment moving to a step is next due there: now, or — at a wait — the end of the wait in the
contact's timezone. Computed once per timezone present in the batch, written in one UPDATE per wait target."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, literal, select, update
from sqlalchemy.orm import Session

from campaigns.timing import zone
from core.models import UTCDateTime
from journeys.batch import BATCH, B
from journeys.checks import JourneySpec
from journeys.clocktime import Duration, clock_time, next_local_time
from journeys.language import WaitSpec, WaitStep


def wait_end(wait: WaitSpec, start: datetime, timezone: str | None, default_timezone: str) -> datetime:
    """When a wait entered at `start` ends for a contact in `timezone` (an event wait: its timeout)."""
    tz = zone(timezone, default_timezone)
    if wait.until is not None:
        return next_local_time(start, clock_time(wait.until), tuple(wait.weekdays), tz)
    duration = Duration.parse(wait.for_ if wait.for_ is not None else wait.timeout)
    return duration.after(start, tz)


def _per_timezone(wait: WaitSpec) -> bool:
    if wait.until is not None:
        return True
    return Duration.parse(wait.for_ if wait.for_ is not None else wait.timeout).calendar


def set_next_due(session: Session, spec: JourneySpec, now: datetime, default_timezone: str) -> None:
    """`next_due` of every batch row that moves on: now, or the end of the wait it moves to."""
    moving = B.finished.is_(None)
    session.execute(update(BATCH).where(moving).values(next_due=now))
    targets = [name for (name,) in session.execute(select(B.next_step).where(moving).distinct())
               if name is not None and spec.kinds.get(name) == "wait"]
    for target in targets:
        step = spec.document.step(target)
        assert isinstance(step, WaitStep)
        wait = step.wait
        into = and_moving(target)
        if not _per_timezone(wait):
            session.execute(update(BATCH).where(into).values(next_due=wait_end(wait, now, None, default_timezone)))
            continue
        zones = [name for (name,) in session.execute(select(B.timezone).where(into).distinct())]
        session.execute(update(BATCH).where(into).values(next_due=_by_zone(wait, now, zones, default_timezone)))


def and_moving(target: str) -> Any:
    return (B.finished.is_(None)) & (B.next_step == target)


def _by_zone(wait: WaitSpec, now: datetime, zones: list[str | None], default_timezone: str) -> Any:
    fallback = literal(wait_end(wait, now, None, default_timezone), UTCDateTime())
    known = [name for name in zones if name is not None]
    if not known:
        return fallback
    return case(*[(B.timezone == name, literal(wait_end(wait, now, name, default_timezone), UTCDateTime()))
                  for name in known], else_=fallback)
