"""Publishing: the draft frozen into an immutable version with a campaign per send step; enrollments stay on the
version they entered unless `--migrate` maps them (steps kept by id carry over; a removed step must be mapped)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import clock
from core.dialect import rowcount
from core.models import Enrollment, Journey, JourneyStep, JourneyVersion
from core.settings import Settings
from journeys.arrival import set_next_due
from journeys.batch import BATCH, B, claim_ids
from journeys.checks import JourneySpec, check_document, check_references
from journeys.enroll import enroll
from journeys.language import SegmentTrigger
from journeys.sends import create_step_campaign
from journeys.service import JourneyStateError, audit, spec_of, versions_of
from journeys.steps import move
from journeys.triggers import members_source
from segments.service import get_segment, members_query

MIGRATION_PASSES = 3


@dataclass
class Published:
    """What a publish did."""

    journey: str
    version: int
    status: str
    campaigns: dict[str, str] = field(default_factory=dict)  # send step -> campaign name
    migrated: dict[str, int] = field(default_factory=dict)  # "v1:step -> step" -> enrollments
    enrolled: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def parse_mapping(text: str | None) -> dict[str, str] | None:
    """`a=b,c=d` as {a: b, c: d}; None when not migrating; "" migrates with steps kept by id only."""
    if text is None:
        return None
    mapping = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise ValueError(f"--migrate takes old_step=new_step pairs separated by commas, not {pair!r}")
        mapping[old.strip()] = new.strip()
    return mapping


def publish(session: Session, settings: Settings, journey: Journey, *, migrate: dict[str, str] | None = None,
            actor: str = "cli") -> Published:
    """Freeze the draft as the next version; new enrollments enter it. With `migrate`, active enrollments of older
    versions move to it too (same step id, or the mapped step)."""
    if journey.status == "archived":
        raise JourneyStateError(f"journey {journey.name!r} is archived")
    spec = check_document(journey.draft)
    check_references(session, spec)
    existing = versions_of(session, journey.id)
    stored = spec.document.to_json()
    if existing and existing[-1].definition == stored and migrate is None:
        raise JourneyStateError(f"journey {journey.name!r}: the draft is version {existing[-1].number} already "
                                "(edit the file and `relance journey create` it again)")
    number = existing[-1].number + 1 if existing else 1
    old = [(version, spec_of(version)) for version in existing if _has_active(session, version.id)]
    if migrate is not None:
        _check_mapping(old, spec, migrate)
    version = JourneyVersion(journey_id=journey.id, number=number, definition=stored, published_by=actor)
    session.add(version)
    session.flush()
    status = "paused" if journey.status == "paused" else "sending"
    result = Published(journey.name, number, "paused" if journey.status == "paused" else "live")
    for position, step in enumerate(spec.document.steps):
        campaign_id = None
        if step.id in spec.sends:
            campaign = create_step_campaign(session, journey, number, step.id, spec.sends[step.id], status=status,
                                            actor=actor)
            campaign_id, result.campaigns[step.id] = campaign.id, campaign.name
        session.add(JourneyStep(version_id=version.id, step=step.id, position=position,
                                kind=spec.kinds[step.id], campaign_id=campaign_id))
    session.flush()
    if migrate is not None:
        result.migrated = _migrate(session, settings, old, version, spec, migrate)
    first = journey.current_version is None
    journey.current_version = number
    if journey.status == "draft":
        now = clock.now()
        journey.status, journey.live_since, journey.events_scanned_until = "live", now, now
    if first and isinstance(spec.document.trigger, SegmentTrigger) and spec.document.trigger.include_members:
        members = members_query(session, get_segment(session, spec.document.trigger.segment))
        result.enrolled = enroll(session, journey, version.id, number, spec,
                                 members_source(members, f"segment:{clock.now().isoformat()}"), clock.now(),
                                 default_timezone=settings.default_timezone)
    audit(session, actor, "published", journey, version=number, migrated=result.migrated)
    session.flush()
    return result


def _has_active(session: Session, version_id: int) -> bool:
    return session.scalar(select(Enrollment.id).where(Enrollment.version_id == version_id,
                                                      Enrollment.status == "active").limit(1)) is not None


def _check_mapping(old: list[tuple[JourneyVersion, JourneySpec]], new: JourneySpec, mapping: dict[str, str]) -> None:
    known_old = {step for _, spec in old for step in spec.kinds}
    problems = [f"{source}={target}: no step {target!r} in the new version"
                for source, target in mapping.items() if target not in new.kinds]
    problems += [f"{source}={target}: no active enrollment waits at a step {source!r}"
                 for source, target in mapping.items() if source not in known_old]
    for version, spec in old:
        problems += [f"step {step!r} of v{version.number} is not in the new version: map it (--migrate "
                     f"{step}=STEP)" for step in spec.kinds if step not in new.kinds and step not in mapping]
    if problems:
        raise JourneyStateError("cannot migrate: " + "; ".join(problems))


def _migrate(session: Session, settings: Settings, old: list[tuple[JourneyVersion, JourneySpec]],
             version: JourneyVersion, spec: JourneySpec, mapping: dict[str, str]) -> dict[str, int]:
    """Move active enrollments of older versions onto `version`: a kept step of the same kind keeps its due time
    (a wait goes on counting); a mapped or changed one is entered anew (a wait starts now). A tick running
    meanwhile may move some on to another old step: passes repeat until none is left behind."""
    moved: dict[str, int] = {}
    for _ in range(MIGRATION_PASSES):
        for previous, previous_spec in old:
            for step, kind in previous_spec.kinds.items():
                count = _migrate_step(session, settings, previous, step, kind, version, spec, mapping.get(step, step))
                if count:
                    key = f"v{previous.number}:{step} -> {mapping.get(step, step)}"
                    moved[key] = moved.get(key, 0) + count
        if not any(_has_active(session, previous.id) for previous, _ in old):
            break
    return moved


def _migrate_step(session: Session, settings: Settings, previous: JourneyVersion, step: str, kind: str,
                  version: JourneyVersion, spec: JourneySpec, target: str) -> int:
    at_step = select(Enrollment.id).where(Enrollment.version_id == previous.id, Enrollment.step == step,
                                          Enrollment.status == "active")
    if target == step and spec.kinds[target] == kind:
        return rowcount(session.execute(update(Enrollment).where(Enrollment.id.in_(at_step))
                                        .values(version_id=version.id),
                                        execution_options={"synchronize_session": False}))
    now = clock.now()
    count = claim_ids(session, at_step, skip_locked=False)  # every one moves: wait for a tick holding some
    session.execute(update(BATCH).values(next_step=target))
    set_next_due(session, spec, now, settings.default_timezone)
    move(session, now)
    session.execute(update(Enrollment).where(Enrollment.id.in_(select(B.enrollment_id)))
                    .values(version_id=version.id), execution_options={"synchronize_session": False})
    return count
