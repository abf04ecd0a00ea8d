"""One tick of every live journey — enroll, wake, advance — then the dispatcher sends what became sendable (the
campaigns' dispatcher, leases, retries and crash recovery). What `relance journey advance` and the Prefect
deployment `advance-journeys` run."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from campaigns.dispatcher import BatchResult, Dispatcher, default_owner
from campaigns.ledger import has_open_messages
from connectors.base import Backend
from core.db import session_scope
from core.models import Campaign, Enrollment, Journey
from core.settings import Settings
from journeys.advance import JourneyTick, advance_journey
from journeys.sends import journey_campaigns


@dataclass
class TickReport:
    """What a tick did, journey by journey, and what the dispatcher sent."""

    journeys: list[JourneyTick] = field(default_factory=list)
    sent: int = 0
    failed: int = 0
    retried: int = 0
    seconds: float = 0.0

    @property
    def busy(self) -> bool:
        """Whether the tick changed anything (enrolled, moved, ended or sent)."""
        return bool(self.sent or self.failed or any(
            item.enrolled or item.woken or sum(item.acted.values()) or sum(item.finished.values())
            for item in self.journeys))

    def as_dict(self) -> dict[str, Any]:
        return {"journeys": [item.as_dict() for item in self.journeys], "sent": self.sent, "failed": self.failed,
                "retried": self.retried, "seconds": round(self.seconds, 3)}


def summarise(reports: list[TickReport]) -> dict[str, Any]:
    """Several ticks as one summary (totals per journey and for the dispatcher)."""
    per: dict[str, dict[str, Any]] = {}
    for report in reports:
        for item in report.journeys:
            entry = per.setdefault(item.journey, {"journey": item.journey, "enrolled": 0, "woken": 0, "steps": {},
                                                  "messages": 0, "finished": {}})
            entry["enrolled"] += item.enrolled
            entry["woken"] += item.woken
            entry["messages"] += item.ledgered
            for key, counts in (("steps", item.acted), ("finished", item.finished)):
                for name, count in counts.items():
                    if count:
                        entry[key][name] = entry[key].get(name, 0) + count
    return {"ticks": len(reports), "journeys": list(per.values()), "sent": sum(item.sent for item in reports),
            "failed": sum(item.failed for item in reports), "retried": sum(item.retried for item in reports),
            "seconds": round(sum(item.seconds for item in reports), 3)}


def live_journeys(engine: Engine, name: str | None = None) -> list[int]:
    with session_scope(engine) as session:
        query = select(Journey.id).where(Journey.status == "live").order_by(Journey.id)
        if name is not None:
            query = select(Journey.id).where(Journey.name == name)
        return list(session.scalars(query))


def tick(engine: Engine, settings: Settings, *, journey: str | None = None, journey_ids: list[int] | None = None,
         dispatch: bool = True, owner: str | None = None, backends: Mapping[str, Backend] | None = None,
         batch_size: int | None = None) -> TickReport:
    """Advance every live journey (or the one named, or those of `journey_ids`) once, then dispatch their due
    messages."""
    started = time.perf_counter()
    owner = owner or default_owner()
    report = TickReport()
    ids = journey_ids if journey_ids is not None else live_journeys(engine, journey)
    for journey_id in ids:
        report.journeys.append(advance_journey(engine, settings, journey_id, owner=owner, batch_size=batch_size))
    if dispatch and ids:
        _dispatch(engine, settings, ids, report, owner, backends)
    report.seconds = time.perf_counter() - started
    return report


def unfinished(engine: Engine, journey: str | None = None) -> bool:
    """Whether a live journey (or the one named) still has active enrollments or messages not settled."""
    ids = live_journeys(engine, journey)
    with session_scope(engine) as session:
        for journey_id in ids:
            if session.scalar(select(Enrollment.id).where(Enrollment.journey_id == journey_id,
                                                          Enrollment.status == "active").limit(1)) is not None:
                return True
            if any(has_open_messages(session, campaign_id) for campaign_id in journey_campaigns(session, journey_id)):
                return True
    return False


def _dispatch(engine: Engine, settings: Settings, journey_ids: list[int], report: TickReport, owner: str,
              backends: Mapping[str, Backend] | None) -> None:
    with session_scope(engine) as session:
        candidates = [campaign_id for journey_id in journey_ids
                      for campaign_id in journey_campaigns(session, journey_id)]
        sending = [campaign_id for campaign_id in candidates
                   if session.scalar(select(Campaign.status).where(Campaign.id == campaign_id)) == "sending"
                   and has_open_messages(session, campaign_id)]
    if not sending:
        return
    dispatcher = Dispatcher(engine, settings, owner=owner, backends=backends)

    def on_batch(result: BatchResult) -> None:
        report.sent += result.tally.sent
        report.failed += result.tally.failed
        report.retried += result.tally.retried

    try:
        for campaign_id in sending:
            dispatcher.run(campaign_id, on_batch=on_batch)
    finally:
        dispatcher.close()
