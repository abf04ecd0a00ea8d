"""The path one contact would take through a journey today, and why at each branch: the same compiled conditions
and the same audience SQL as the real tick, evaluated for that contact alone; nothing is written."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, literal, select
from sqlalchemy.orm import Session

from campaigns import hashing
from campaigns.audience import candidates
from campaigns.service import definition_of
from campaigns.timing import zone
from core import clock
from core.models import Campaign, Contact, Enrollment, Journey, UTCDateTime
from core.settings import Settings
from journeys.arrival import wait_end
from journeys.checks import JourneySpec
from journeys.conditions import Anchor, Condition, compile_journey_condition, describe
from journeys.language import BranchStep, ExitStep, SplitStep, UpdateStep, WaitStep
from journeys.service import JourneyStateError, current_version, spec_of, step_campaigns

MAX_STEPS = 200


@dataclass
class PreviewLine:
    """One step of the path: what happens there and why."""

    step: str
    kind: str
    what: str
    why: str = ""
    at: datetime | None = None


@dataclass
class Preview:
    journey: str
    contact_id: int
    contact: str
    enrollment: str
    held_out: bool
    notes: list[str] = field(default_factory=list)
    path: list[PreviewLine] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"journey": self.journey, "contact_id": self.contact_id, "contact": self.contact,
                "enrollment": self.enrollment, "held_out": self.held_out, "notes": self.notes,
                "path": [line.__dict__ for line in self.path]}


def _holds(session: Session, condition: Condition, contact_id: int, anchor: Anchor) -> bool:
    predicate = compile_journey_condition(session, condition, anchor)
    return bool(session.scalar(select(predicate).select_from(Contact).where(Contact.id == contact_id)))


def preview(session: Session, settings: Settings, journey: Journey, contact: Contact) -> Preview:
    """Walk the live version from its first step for `contact`, as if it entered now."""
    version = current_version(session, journey)
    if version is None:
        raise JourneyStateError(f"journey {journey.name!r} has no published version yet: publish it first")
    spec = spec_of(version)
    campaigns = step_campaigns(session, version.id)
    enrollment = session.scalars(select(Enrollment).where(Enrollment.journey_id == journey.id,
                                                          Enrollment.contact_id == contact.id)
                                 .order_by(Enrollment.entered_at.desc())).first()
    hashing.prepare(session)
    bucket = session.scalar(select(hashing.bucket_sql(session, f"journey-holdout:{journey.id}", literal(contact.id))))
    held = bucket is not None and bucket < hashing.threshold(spec.document.holdout)
    now = clock.now()
    anchor = Anchor(literal(enrollment.id if enrollment else None, Integer), literal(now, UTCDateTime()))
    result = Preview(journey.name, contact.id, contact.email or f"#{contact.id}", _enrollment_text(enrollment),
                     bool(held))
    if held:
        result.notes.append(f"in the journey's holdout ({spec.document.holdout:.0%}): enrolls, receives nothing")
    if spec.goal is not None and _holds(session, spec.goal, contact.id, anchor):
        result.notes.append(f"already meets the goal ({describe(spec.goal)}): would not be enrolled")
    for item in spec.exits:
        if _holds(session, item.condition, contact.id, anchor):
            result.notes.append(f"meets exit condition {item.reason} ({describe(item.condition)}): would not enter")
    _walk(session, settings, spec, campaigns, contact, bool(held), anchor, now, result)
    return result


def _enrollment_text(enrollment: Enrollment | None) -> str:
    if enrollment is None:
        return "not enrolled"
    if enrollment.status == "active":
        return f"enrolled since {enrollment.entered_at:%Y-%m-%d %H:%M} UTC, now at {enrollment.step}"
    return f"{enrollment.status} at {enrollment.step} ({enrollment.exit_reason or ''})".replace(" ()", "")


def _walk(session: Session, settings: Settings, spec: JourneySpec, campaigns: dict[str, int], contact: Contact,
          held: bool, anchor: Anchor, now: datetime, result: Preview) -> None:
    step_id: str | None = spec.first_step
    moment = now
    for _ in range(MAX_STEPS):
        if step_id is None:
            result.path.append(PreviewLine("end", "end", "journey completed", at=moment))
            return
        step = spec.document.step(step_id)
        kind = spec.kinds[step_id]
        line = PreviewLine(step_id, kind, "", at=moment)
        result.path.append(line)
        next_step = spec.edges[step_id][0].target if spec.edges[step_id] else None
        if isinstance(step, WaitStep):
            moment = wait_end(step.wait, moment, contact.timezone, settings.default_timezone)
            line.what, line.why = _wait_text(step, moment, contact, settings)
            if step.wait.for_event is not None:
                next_step = spec.edges[step_id][1].target
        elif isinstance(step, BranchStep):
            next_step, line.what, line.why = _branch(session, spec, step_id, contact, anchor)
        elif isinstance(step, SplitStep):
            line.what = "random split: " + ", ".join(f"{arm.weight} → {arm.goto}" for arm in step.split)
            line.why = "each enrollment draws its arm at random (proportional to the weights)"
            next_step = step.split[0].goto
        elif isinstance(step, UpdateStep):
            line.what = _update_text(step)
        elif isinstance(step, ExitStep):
            line.what = "leaves the journey (completed)"
            return
        else:
            line.what, line.why = _send(session, campaigns[step_id], contact, held)
        step_id = next_step


def _wait_text(step: WaitStep, until: datetime, contact: Contact, settings: Settings) -> tuple[str, str]:
    local = until.astimezone(zone(contact.timezone, settings.default_timezone))
    wait = step.wait
    if wait.for_event is not None:
        return (f"waits for {wait.for_event} up to {wait.timeout}", f"without it, goes on at {local:%Y-%m-%d %H:%M %Z}"
                f" → {wait.on_timeout or 'the next step'}; with it → {wait.on_event or 'the next step'}")
    if wait.until is not None:
        days = f" on {', '.join(wait.weekdays)}" if wait.weekdays else ""
        return f"waits until {wait.until}{days} local", f"{local:%A %Y-%m-%d %H:%M %Z}"
    return f"waits {wait.for_}", f"until {local:%Y-%m-%d %H:%M %Z} (the contact's local time)"


def _branch(session: Session, spec: JourneySpec, step_id: str, contact: Contact,
            anchor: Anchor) -> tuple[str | None, str, str]:
    reasons = []
    for condition, edge in zip(spec.rules[step_id], spec.edges[step_id], strict=False):
        holds = _holds(session, condition, contact.id, anchor)
        reasons.append(f"{edge.label} ({describe(condition)}): {'yes' if holds else 'no'}")
        if holds:
            return edge.target, f"goes to {edge.target or 'the end'}", "; ".join(reasons)
    otherwise = spec.edges[step_id][-1]
    return otherwise.target, f"goes to {otherwise.target or 'the end'} (else)", "; ".join(reasons)


def _update_text(step: UpdateStep) -> str:
    spec = step.update
    parts = [f"set {key} = {value!r}" for key, value in spec.set.items()]
    parts += [f"tag +{name}" for name in spec.add_tags] + [f"tag -{name}" for name in spec.remove_tags]
    if spec.score:
        parts.append(f"score {spec.score:+d}")
    if spec.lifecycle_stage:
        parts.append(f"stage → {spec.lifecycle_stage}")
    return ", ".join(parts) or "no change"


def _send(session: Session, campaign_id: int, contact: Contact, held: bool) -> tuple[str, str]:
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    definition = definition_of(campaign)
    recipients = select(literal(contact.id).label("contact_id"), literal(0).label("rotation"),
                        literal(held).label("held_out")).subquery("recipients")
    row = session.execute(select(candidates(session, campaign, definition, recipients).subquery("one"))).first()
    if row is None:
        return "no message", "the contact no longer exists"
    mapping = row._mapping
    status, channel, reason = mapping["status"], mapping["channel"], mapping["reason"]
    if status == "held_out":
        return f"nothing (held out; would get {channel})", "the journey's holdout receives nothing"
    if status == "excluded":
        return "nothing", f"excluded: {reason} (fallback: {' → '.join(definition.channels)})"
    variants = {arm.name: arm.template_for(channel) for arm in definition.arms()}
    return f"{channel}: {', '.join(f'{name}={template}' for name, template in variants.items())}", \
        f"first reachable channel of {' → '.join(definition.channels)}"
