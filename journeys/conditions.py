"""Conditions in journeys — branch rules, goals, exits: the segment language, plus engagement with the message of
an earlier step (`{step: welcome, did: clicked}`) and, for goals and exits, an event since the contact entered.
Compiled to SQL over `Contact` and the enrollment being judged (one compiler: the segments')."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, exists, not_, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.models import Contact, EnrollmentStep, Event, Message
from journeys.language import DID
from segments.compile_context import json_value
from segments.compiler import compile_condition, make_context
from segments.language import EventCondition, SegmentDefinitionError, parse_node
from segments.sql_behaviour import event_filters

DID_STATUSES = {"sent": ("sent", "delivered", "bounced"), "delivered": ("delivered",), "bounced": ("bounced",),
                "failed": ("failed",)}
DID_EVENTS = {"opened": ("email.opened",), "clicked": ("email.clicked", "sms.clicked"),
              "unsubscribed": ("email.unsubscribed",)}


@dataclass(frozen=True)
class StepDid:
    """The message of an earlier send step of this enrollment was sent / delivered / opened / clicked..."""

    step: str
    did: str

    def describe(self) -> str:
        return f"the message of step {self.step} was {self.did}"


@dataclass(frozen=True)
class Group:
    kind: str  # all | any
    children: tuple[Condition, ...]


@dataclass(frozen=True)
class Negation:
    child: Condition


@dataclass(frozen=True)
class SegmentLeaf:
    """A node of the segment language, judged on the contact as it is now."""

    node: Any
    source: dict[str, Any]


@dataclass(frozen=True)
class EventSince:
    """An event (type and property filters) that happened since the contact entered the journey."""

    condition: EventCondition


Condition = StepDid | Group | Negation | SegmentLeaf | EventSince
Problems = list[tuple[str, str]]


def _join(path: str, inner: str) -> str:
    if not inner:
        return path
    return f"{path}{inner}" if inner.startswith("[") else f"{path}.{inner}"


def _parse_event(data: dict[str, Any], path: str, problems: Problems) -> Condition | None:
    try:
        return EventSince(EventCondition.model_validate(data))
    except ValidationError as exc:
        for error in exc.errors():
            inner = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function"))
            why = "unknown key" if error["type"] == "extra_forbidden" else str(error["msg"]).removeprefix(
                "Value error, ")
            problems.append((_join(path, inner), why))
        return None


def _parse_step(data: dict[str, Any], path: str, problems: Problems) -> Condition | None:
    unknown = sorted(set(data) - {"step", "did"})
    if unknown:
        problems.append((_join(path, unknown[0]), "unknown key (a step condition is {step: ID, did: clicked})"))
        return None
    if data.get("did") not in DID:
        problems.append((_join(path, "did"), f"did is one of {', '.join(DID)}"))
        return None
    return StepDid(str(data["step"]), str(data["did"]))


def parse_condition(data: Any, path: str, problems: Problems, *, since_entry: bool = False) -> Condition | None:
    """A condition from its YAML form; problems are appended with their paths (None when it is unusable).
    With `since_entry` (goals, exits) an `{event: TYPE, where: ...}` means "since the contact entered" (with
    `within`, `count`... it keeps its segment-language meaning)."""
    if isinstance(data, dict) and "step" in data:
        return _parse_step(data, path, problems)
    if isinstance(data, dict) and since_entry and "event" in data and set(data) <= {"event", "where"}:
        return _parse_event(data, path, problems)
    if isinstance(data, dict) and len(data) == 1 and ("all" in data or "any" in data):
        kind = "all" if "all" in data else "any"
        items = data[kind]
        if not isinstance(items, list):
            problems.append((_join(path, kind), "expected a list of conditions"))
            return None
        children = [parse_condition(item, f"{_join(path, kind)}[{index}]", problems, since_entry=since_entry)
                    for index, item in enumerate(items)]
        return Group(kind, tuple(child for child in children if child is not None))
    if isinstance(data, dict) and len(data) == 1 and "not" in data:
        child = parse_condition(data["not"], _join(path, "not"), problems, since_entry=since_entry)
        return Negation(child) if child is not None else None
    try:
        return SegmentLeaf(parse_node(data), data)
    except SegmentDefinitionError as exc:
        problems.extend((_join(path, inner), why) for inner, why in exc.problems)
        return None


def step_references(condition: Condition | None) -> list[str]:
    """The steps whose messages the condition reads."""
    if isinstance(condition, StepDid):
        return [condition.step]
    if isinstance(condition, Group):
        return [name for child in condition.children for name in step_references(child)]
    if isinstance(condition, Negation):
        return step_references(condition.child)
    return []


@dataclass(frozen=True)
class Anchor:
    """The enrollment a condition is judged for: SQL columns of its id and its entry time."""

    enrollment_id: Any
    entered_at: Any


def compile_journey_condition(session: Session, condition: Condition, anchor: Anchor) -> ColumnElement[bool]:
    """A never-NULL predicate over `Contact` (joined to the enrollments being judged) for `condition`."""
    if isinstance(condition, Group):
        parts = [compile_journey_condition(session, child, anchor) for child in condition.children]
        return and_(*parts) if condition.kind == "all" else or_(*parts)
    if isinstance(condition, Negation):
        return not_(compile_journey_condition(session, condition.child, anchor))
    if isinstance(condition, StepDid):
        return _step_did(session, condition, anchor)
    if isinstance(condition, EventSince):
        ctx = make_context(session)
        # Correlated by hand: the enrollment's columns live two levels up (the batch being updated).
        return exists().where(Event.contact_id == Contact.id, Event.occurred_at >= anchor.entered_at,
                              *event_filters(ctx, condition.condition)).correlate_except(Event)
    return compile_condition(session, condition.node)


def _step_did(session: Session, condition: StepDid, anchor: Anchor) -> ColumnElement[bool]:
    log = select(EnrollmentStep.message_id).where(EnrollmentStep.enrollment_id == anchor.enrollment_id,
                                                  EnrollmentStep.step == condition.step) \
        .correlate_except(EnrollmentStep)
    if condition.did in DID_STATUSES:
        return exists().where(Message.id.in_(log.scalar_subquery()),
                              Message.status.in_(DID_STATUSES[condition.did])).correlate_except(Message)
    found = and_(Event.message_id.in_(log.scalar_subquery()), Event.type.in_(DID_EVENTS[condition.did]))
    if condition.did == "opened":  # privacy proxies and scanners open everything: only people count
        machine = json_value(make_context(session), Event.properties, "machine", "boolean")
        found = and_(found, or_(machine.is_(None), machine.is_(False)))
    return exists().where(found).correlate_except(Event)


def describe(condition: Condition) -> str:
    """A short reading of the condition for previews and status pages."""
    if isinstance(condition, StepDid):
        return condition.describe()
    if isinstance(condition, Group):
        joiner = " and " if condition.kind == "all" else " or "
        return "(" + joiner.join(describe(child) for child in condition.children) + ")"
    if isinstance(condition, Negation):
        return f"not {describe(condition.child)}"
    if isinstance(condition, EventSince):
        where = f" where {condition.condition.where}" if condition.condition.where else ""
        return f"{condition.condition.event} since entry{where}"
    return ", ".join(f"{key}: {value}" for key, value in condition.source.items())
