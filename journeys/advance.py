"""Advancing one journey: enroll from its trigger, let new events wake waits and end enrollments that met a goal or
exit, then carry every due enrollment through the steps in graph order, batch by batch (one transaction each)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core import clock
from core.db import session_scope
from core.models import Campaign, Enrollment, Journey, JourneyVersion
from core.settings import Settings
from journeys.batch import release_lease, take_lease
from journeys.checks import JourneySpec
from journeys.enroll import enroll
from journeys.language import DateTrigger
from journeys.sends import BudgetReached, journey_campaigns
from journeys.service import pause_journey, spec_of, step_campaigns, versions_of
from journeys.steps import BatchOutcome, Node, run_batch
from journeys.sweeps import Window, active_of, cancel_unreachable, finish_met, touched_contacts, wake
from journeys.triggers import anniversary_source, event_source, ready_zones

SWEEP_CHUNK = 50_000
RETRIES = 3  # a deadlock or serialization failure (PostgreSQL) rolls the batch back: it is tried again


class LeaseLost(RuntimeError):
    """Another worker holds the journey's SQLite write lease."""


@dataclass
class JourneyTick:
    """What one tick did for one journey."""

    journey: str
    enrolled: int = 0
    woken: int = 0
    acted: Counter[str] = field(default_factory=Counter)  # step -> enrollments that went through it
    timings: dict[str, float] = field(default_factory=dict)  # step (or "intake", "sweep") -> seconds
    ledgered: int = 0
    finished: Counter[str] = field(default_factory=Counter)  # converted | exited | completed
    reasons: Counter[str] = field(default_factory=Counter)
    cancelled: int = 0  # queued messages of contacts who became unreachable
    skipped: str | None = None
    paused: str | None = None
    seconds: float = 0.0

    def add(self, step: str, outcome: BatchOutcome) -> None:
        self.acted[step] += outcome.acted
        self.ledgered += outcome.ledgered
        self.finished.update(outcome.finished)
        self.reasons.update(outcome.reasons)

    def as_dict(self) -> dict[str, Any]:
        return {"journey": self.journey, "enrolled": self.enrolled, "woken": self.woken,
                "steps": {step: count for step, count in self.acted.items() if count},
                "seconds_by_step": {step: round(value, 3) for step, value in self.timings.items() if value >= 0.001},
                "messages": self.ledgered, "finished": dict(self.finished), "reasons": dict(self.reasons),
                "cancelled_unreachable": self.cancelled, "skipped": self.skipped, "paused": self.paused,
                "seconds": round(self.seconds, 3)}


@dataclass
class Loaded:
    """A journey's versions as the tick needs them."""

    journey_id: int
    name: str
    versions: list[tuple[JourneyVersion, JourneySpec, dict[str, int]]]
    current: tuple[JourneyVersion, JourneySpec]
    campaigns: tuple[int, ...]


@contextmanager
def _transaction(engine: Engine, settings: Settings, journey_id: int, owner: str) -> Iterator[Session]:
    """A transaction that (on SQLite) first renews the journey's write lease."""
    with session_scope(engine) as session:
        if not take_lease(session, journey_id, owner, settings.journey_lease_seconds):
            raise LeaseLost(f"journey {journey_id} is being advanced by another worker")
        yield session


def _retrying(action: Any) -> Any:
    for attempt in range(RETRIES):
        try:
            return action()
        except DBAPIError as exc:
            code = getattr(exc.orig, "sqlstate", None)
            if code not in ("40P01", "40001") or attempt == RETRIES - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    return None  # pragma: no cover


def advance_journey(engine: Engine, settings: Settings, journey_id: int, *, owner: str,
                    batch_size: int | None = None) -> JourneyTick:
    """One tick of one live journey (a paused, archived or draft journey is skipped)."""
    started = time.perf_counter()
    with session_scope(engine) as session:
        journey = session.get(Journey, journey_id)
        assert journey is not None
        tick = JourneyTick(journey.name)
        if journey.status != "live" or journey.current_version is None:
            tick.skipped = journey.status
            return tick
        tick.paused = _pause_for_steps(session, journey)
        if tick.paused:
            return tick
        loaded = _load(session, journey)
    try:
        began = time.perf_counter()
        _intake(engine, settings, loaded, owner, tick)
        tick.timings["intake"] = time.perf_counter() - began
        limit = batch_size or settings.journey_batch_size
        for version, spec, campaigns in loaded.versions:
            if _has_active(engine, version.id):
                _advance_version(engine, settings, loaded, version, spec, campaigns, owner, limit, tick)
        began = time.perf_counter()
        _sweep_goals(engine, settings, loaded, owner, tick)
        tick.timings["goal sweep"] = time.perf_counter() - began
    except LeaseLost as exc:
        tick.skipped = str(exc)
    except BudgetReached as exc:
        with session_scope(engine) as session:
            current = session.get(Journey, journey_id)
            if current is not None and current.status == "live":
                pause_journey(session, current, str(exc), actor="journey tick")
        tick.paused = str(exc)
    finally:
        with session_scope(engine) as session:
            release_lease(session, journey_id, owner)
    tick.seconds = time.perf_counter() - started
    return tick


def _pause_for_steps(session: Session, journey: Journey) -> str | None:
    """A step campaign that paused itself (error rate, its own budget) pauses the journey, with its reason."""
    paused = session.execute(select(Campaign.name, Campaign.status_reason).where(
        Campaign.id.in_(journey_campaigns(session, journey.id)), Campaign.status == "paused")).first()
    if paused is None:
        return None
    reason = f"step campaign {paused[0]} paused: {paused[1]}"[:1000]
    pause_journey(session, journey, reason, actor="journey tick")
    return reason


def _load(session: Session, journey: Journey) -> Loaded:
    versions = [(version, spec_of(version), step_campaigns(session, version.id))
                for version in versions_of(session, journey.id)]
    current = next((version, spec) for version, spec, _ in versions if version.number == journey.current_version)
    return Loaded(journey.id, journey.name, versions, current, tuple(journey_campaigns(session, journey.id)))


def _has_active(engine: Engine, version_id: int) -> bool:
    with session_scope(engine) as session:
        return session.scalar(select(Enrollment.id).where(Enrollment.version_id == version_id,
                                                          Enrollment.status == "active").limit(1)) is not None


def _intake(engine: Engine, settings: Settings, loaded: Loaded, owner: str, tick: JourneyTick) -> None:
    """Triggers, wake-ups, goals and exits met by new events, unreachable contacts' queued messages."""
    now = clock.now()
    with _transaction(engine, settings, loaded.journey_id, owner) as session:
        journey = session.get(Journey, loaded.journey_id)
        assert journey is not None and journey.live_since is not None
        scanned = journey.events_scanned_until or journey.live_since
        window = Window(max(journey.live_since, scanned - timedelta(seconds=settings.journey_event_lateness_seconds)),
                        now)
        tick.enrolled += _enroll_triggered(session, settings, journey, loaded, window, now)
        for version, spec, _ in loaded.versions:
            for step in spec.waits_for:
                tick.woken += wake(session, loaded.journey_id, version.id, step, spec, window, now)
            met = finish_met(session, journey, spec, active_of(loaded.journey_id, touched_contacts(spec, window))
                             .where(Enrollment.version_id == version.id), list(loaded.campaigns), now)
            _count_finished(tick, met)
        tick.cancelled += cancel_unreachable(session, list(loaded.campaigns), window)
        journey.events_scanned_until = now


def _enroll_triggered(session: Session, settings: Settings, journey: Journey, loaded: Loaded, window: Window,
                      now: datetime) -> int:
    version, spec = loaded.current
    if spec.trigger_event is not None:
        return enroll(session, journey, version.id, version.number, spec,
                      event_source(session, spec, window.since, window.until), now,
                      default_timezone=settings.default_timezone)
    trigger = spec.document.trigger
    if not isinstance(trigger, DateTrigger):
        return 0
    enrolled = 0
    state = dict(journey.trigger_state.get("zones", {}))
    for day, zones in ready_zones(trigger, state, now).items():
        source = anniversary_source(session, trigger, day, zones, settings.default_timezone)
        enrolled += enroll(session, journey, version.id, version.number, spec, source, now,
                           default_timezone=settings.default_timezone)
        state.update({zone: day.isoformat() for zone in zones})
    journey.trigger_state = {**journey.trigger_state, "zones": state}
    return enrolled


def _count_finished(tick: JourneyTick, met: dict[str, int]) -> None:
    for reason, count in met.items():
        tick.finished["converted" if reason == "goal" else "exited"] += count
        tick.reasons[reason] += count


def _advance_version(engine: Engine, settings: Settings, loaded: Loaded, version: JourneyVersion, spec: JourneySpec,
                     campaigns: dict[str, int], owner: str, limit: int, tick: JourneyTick) -> None:
    fixed = Decimal(str(spec.document.costs.get("fixed", 0)))
    for step in spec.order:
        node = Node(loaded.journey_id, loaded.name, version.id, version.number, spec, step, campaigns.get(step),
                    loaded.campaigns, spec.document.budget, fixed)

        def one_batch(node: Node = node) -> BatchOutcome:
            with _transaction(engine, settings, loaded.journey_id, owner) as session:
                return run_batch(session, settings, node, limit)

        began = time.perf_counter()
        while True:
            outcome = _retrying(one_batch)
            tick.add(step, outcome)
            if outcome.claimed < limit:
                break
        tick.timings[step] = tick.timings.get(step, 0.0) + time.perf_counter() - began


def _sweep_goals(engine: Engine, settings: Settings, loaded: Loaded, owner: str, tick: JourneyTick) -> None:
    """Now and then, every waiting enrollment against the goal and exits (changes no event announced)."""
    now = clock.now()
    with session_scope(engine) as session:
        journey = session.get(Journey, loaded.journey_id)
        assert journey is not None
        due = journey.goals_swept_at is None or clock.utc(journey.goals_swept_at) <= now - timedelta(
            seconds=settings.journey_goal_sweep_seconds)
    if not due:
        return
    for version, spec, _ in loaded.versions:
        if spec.goal is None and not spec.exits:
            continue
        last = 0
        while True:
            with _transaction(engine, settings, loaded.journey_id, owner) as session:
                chunk = (select(Enrollment.id).where(Enrollment.version_id == version.id,
                                                     Enrollment.status == "active", Enrollment.id > last)
                         .order_by(Enrollment.id).limit(SWEEP_CHUNK))
                ids = list(session.scalars(chunk))
                if not ids:
                    break
                last = ids[-1]
                journey = session.get(Journey, loaded.journey_id)
                met = finish_met(session, journey, spec, select(Enrollment.id).where(
                    Enrollment.version_id == version.id, Enrollment.status == "active",
                    Enrollment.id.between(ids[0], ids[-1])), list(loaded.campaigns), now)
                _count_finished(tick, met)
    with _transaction(engine, settings, loaded.journey_id, owner) as session:
        journey = session.get(Journey, loaded.journey_id)
        assert journey is not None
        journey.goals_swept_at = now
