"""Journeys as stored objects: drafts saved from documents, lookups, and the status changes (pause, resume,
archive) that the next tick respects; every change goes to the audit log."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaigns.service import cancel_campaign
from core import clock
from core.dialect import rowcount
from core.models import AuditLog, Campaign, Enrollment, Journey, JourneyStep, JourneyVersion
from core.settings import Settings
from journeys import events
from journeys.checks import JourneySpec, check_document, check_references
from journeys.enroll import enroll
from journeys.sends import journey_campaigns


class JourneyNotFound(LookupError):
    """No journey has that name."""


class JourneyStateError(ValueError):
    """The journey's status does not allow what was asked."""


def get_journey(session: Session, name: str) -> Journey:
    """The journey with this name (or numeric id)."""
    query = select(Journey).where(Journey.name == name)
    journey = session.scalars(query).first()
    if journey is None and str(name).isdigit():
        journey = session.get(Journey, int(name))
    if journey is None:
        raise JourneyNotFound(f"no journey named {name!r}")
    return journey


def list_journeys(session: Session) -> list[Journey]:
    return list(session.scalars(select(Journey).order_by(Journey.name)))


def versions_of(session: Session, journey_id: int) -> list[JourneyVersion]:
    """Every published version, oldest first."""
    return list(session.scalars(select(JourneyVersion).where(JourneyVersion.journey_id == journey_id)
                                .order_by(JourneyVersion.number)))


def current_version(session: Session, journey: Journey) -> JourneyVersion | None:
    if journey.current_version is None:
        return None
    return session.scalars(select(JourneyVersion).where(JourneyVersion.journey_id == journey.id,
                                                        JourneyVersion.number == journey.current_version)).one()


@lru_cache(maxsize=256)
def _cached_spec(version_id: int, published: str, text: str) -> JourneySpec:
    import json

    return check_document(json.loads(text))


def spec_of(version: JourneyVersion) -> JourneySpec:
    """The checked journey of a published version (versions never change: parsed once per process)."""
    import json

    return _cached_spec(version.id, str(version.published_at), json.dumps(version.definition, sort_keys=True))


def step_campaigns(session: Session, version_id: int) -> dict[str, int]:
    """Send step id -> its campaign, for one version."""
    rows = session.execute(select(JourneyStep.step, JourneyStep.campaign_id)
                           .where(JourneyStep.version_id == version_id, JourneyStep.campaign_id.is_not(None)))
    return {step: int(campaign_id) for step, campaign_id in rows}


def audit(session: Session, actor: str, action: str, journey: Journey, **details: Any) -> None:
    session.add(AuditLog(actor=actor, action=f"journey.{action}", target=journey.name, details=details))


def save_draft(session: Session, document: dict[str, Any], *, actor: str = "cli") -> tuple[Journey, str]:
    """Check a journey document (shape, graph, conditions, sends, then the segments and templates it names) and
    save it as the journey's draft; returns the journey and what happened: created, updated or unchanged."""
    spec = check_document(document)
    check_references(session, spec)
    journey = session.scalars(select(Journey).where(Journey.name == spec.name)).first()
    if journey is not None and journey.status == "archived":
        raise JourneyStateError(f"journey {spec.name!r} is archived: give the new one another name")
    stored = spec.document.to_json()
    if journey is None:
        journey = Journey(name=spec.name, status="draft", draft=stored, description=spec.document.description)
        session.add(journey)
        session.flush()
        audit(session, actor, "created", journey, definition=stored)
        return journey, "created"
    live = current_version(session, journey)
    if journey.draft == stored:
        return journey, "unchanged"
    journey.draft, journey.description = stored, spec.document.description
    audit(session, actor, "draft updated", journey, definition=stored)
    session.flush()
    return journey, "updated" if live is None or live.definition != stored else "unchanged"


def ensure_enrollable(journey: Journey) -> None:
    """Contacts may enter a published journey, live or paused (they wait), never a draft or an archived one."""
    if journey.status in ("draft", "archived"):
        raise JourneyStateError(f"journey {journey.name!r} is {journey.status}: publish it first"
                                if journey.status == "draft" else f"journey {journey.name!r} is archived")


def enroll_now(session: Session, settings: Settings, journey: Journey, source: Any) -> int:
    """Enroll the contacts of `source` (see journeys.triggers) into the live version now; returns how many
    entered (those already in it, or barred by the re-entry rule, are skipped)."""
    ensure_enrollable(journey)
    version = current_version(session, journey)
    assert version is not None
    return enroll(session, journey, version.id, version.number, spec_of(version), source, clock.now(),
                  default_timezone=settings.default_timezone)


def pause_journey(session: Session, journey: Journey, reason: str = "paused by hand", *,
                  actor: str = "cli") -> Journey:
    """Nothing enrolls, moves or sends until resumed (events meanwhile are caught up then)."""
    if journey.status != "live":
        raise JourneyStateError(f"journey {journey.name!r} is {journey.status}: only a live journey can be paused")
    journey.status, journey.status_reason = "paused", reason
    session.execute(update(Campaign).where(Campaign.id.in_(journey_campaigns(session, journey.id)),
                                           Campaign.status == "sending")
                    .values(status="paused", status_reason=f"journey paused: {reason}"[:1000]),
                    execution_options={"synchronize_session": False})
    audit(session, actor, "paused", journey, reason=reason)
    session.flush()
    return journey


def resume_journey(session: Session, journey: Journey, *, actor: str = "cli") -> Journey:
    """Carry on: triggers met while paused enroll, due enrollments move, paused step campaigns send again."""
    if journey.status != "paused":
        raise JourneyStateError(f"journey {journey.name!r} is {journey.status}, not paused")
    journey.status, journey.status_reason = "live", None
    session.execute(update(Campaign).where(Campaign.id.in_(journey_campaigns(session, journey.id)),
                                           Campaign.status == "paused")
                    .values(status="sending", status_reason=None), execution_options={"synchronize_session": False})
    audit(session, actor, "resumed", journey)
    session.flush()
    return journey


def archive_journey(session: Session, journey: Journey, *, actor: str = "cli") -> int:
    """End the journey: active enrollments exit (reason `archived`), unsent messages are cancelled. Returns how
    many enrollments ended."""
    if journey.status == "archived":
        raise JourneyStateError(f"journey {journey.name!r} is already archived")
    now = clock.now()
    active = (Enrollment.journey_id == journey.id) & (Enrollment.status == "active")
    result = session.execute(update(Enrollment).where(active).values(
        status="exited", exit_reason="archived", exited_at=now, due_at=None),
        execution_options={"synchronize_session": False})
    events.record_exits_of(session, journey, (Enrollment.journey_id == journey.id) & (Enrollment.exited_at == now)
                           & (Enrollment.exit_reason == "archived"), now)
    for campaign_id in journey_campaigns(session, journey.id):
        campaign = session.get(Campaign, campaign_id)
        if campaign is not None and campaign.status not in ("completed", "cancelled"):
            cancel_campaign(session, campaign, actor=actor)
    journey.status, journey.archived_at, journey.status_reason = "archived", now, "archived by hand"
    audit(session, actor, "archived", journey, enrollments_ended=rowcount(result))
    session.flush()
    return rowcount(result)
