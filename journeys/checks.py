"""A journey checked end to end: its shape, its graph, every condition, every send step (as the campaign it
becomes) and the names it refers to — each problem reported with the path of the node at fault."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.definition import CampaignDefinitionError, SendOptions, parse_send_options
from campaigns.service import template_problems
from core.models import Segment
from journeys import graph
from journeys.conditions import (
    Condition,
    EventSince,
    Group,
    Negation,
    SegmentLeaf,
    parse_condition,
    step_references,
)
from journeys.language import (
    RESERVED_REASONS,
    BranchStep,
    DateTrigger,
    EventTrigger,
    JourneyDefinitionError,
    JourneyDocument,
    SegmentTrigger,
    SendStep,
    WaitStep,
    parse_document,
    read_document,
)
from segments.catalogue import UnknownField, lookup
from segments.compiler import resolve_segments, walk
from segments.language import EventCondition, SegmentDefinitionError

# Journey-level keys every send step inherits (a step's own `send:` keys win).
SHARED = ("quiet_hours", "policies", "currency", "costs", "utm", "postage_class", "topic")
Problems = list[tuple[str, str]]


@dataclass(frozen=True)
class Exit:
    """An `exit_when` condition and the reason recorded when it ends an enrollment."""

    reason: str
    condition: Condition


@dataclass
class JourneySpec:
    """A journey ready to run: the document and everything derived from it."""

    document: JourneyDocument
    goal: Condition | None = None
    exits: list[Exit] = field(default_factory=list)
    rules: dict[str, list[Condition]] = field(default_factory=dict)  # branch step -> its `if` conditions
    sends: dict[str, SendOptions] = field(default_factory=dict)  # send step -> its options, policies merged
    waits_for: dict[str, EventCondition] = field(default_factory=dict)  # event-wait step -> the awaited event
    trigger_event: EventCondition | None = None
    order: list[str] = field(default_factory=list)
    edges: dict[str, list[graph.Edge]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.document.name

    @property
    def first_step(self) -> str:
        return self.document.steps[0].id


def check_document(data: Any) -> JourneySpec:
    """Everything that can be checked without a database; raises JourneyDefinitionError listing every problem."""
    document = parse_document(data)
    problems = graph.problems(document)
    if problems:
        raise JourneyDefinitionError(problems)
    spec = JourneySpec(document, order=graph.topological(document), edges=graph.successors(document),
                       kinds=graph.kinds(document))
    spec.trigger_event = _trigger_event(document, problems)
    if document.goal is not None:
        spec.goal = parse_condition(document.goal, "goal", problems, since_entry=True)
    spec.exits = _exits(document, problems)
    for index, step in enumerate(document.steps):
        _check_step(spec, index, step, problems)
    if problems:
        raise JourneyDefinitionError(problems)
    return spec


def load_journey(path: str | Path) -> JourneySpec:
    """Read and check a journey file (.yaml / .json)."""
    return check_document(read_document(path))


def _trigger_event(document: JourneyDocument, problems: Problems) -> EventCondition | None:
    trigger = document.trigger
    if isinstance(trigger, SegmentTrigger):
        return EventCondition(event="segment.entered", where={"segment": {"eq": trigger.segment}})
    if isinstance(trigger, EventTrigger):
        parsed = parse_condition({"event": trigger.event, "where": trigger.where}, "trigger", problems,
                                 since_entry=True)
        return parsed.condition if isinstance(parsed, EventSince) else None
    if isinstance(trigger, DateTrigger):
        try:
            spec = lookup(trigger.date)
        except UnknownField as exc:
            problems.append(("trigger.date", str(exc)))
            return None
        if spec.table != "contact" or spec.type not in ("date", "datetime", "any"):
            problems.append(("trigger.date", f"{trigger.date} is not a date field of the contact"))
    return None


def _exits(document: JourneyDocument, problems: Problems) -> list[Exit]:
    found = []
    for index, item in enumerate(document.exit_when):
        path = f"exit_when[{index}]"
        reason, data = None, item
        if set(item) <= {"reason", "if"} and "if" in item:
            reason, data, path = item.get("reason"), item["if"], f"{path}.if"
        condition = parse_condition(data, path, problems, since_entry=True)
        if condition is None:
            continue
        if reason is None:
            reason = condition.condition.event if isinstance(condition, EventSince) else f"exit_when[{index}]"
        if reason in RESERVED_REASONS:
            problems.append((f"exit_when[{index}].reason", f"{reason!r} is how Relance itself ends enrollments: "
                                                           "name this reason otherwise"))
        found.append(Exit(str(reason)[:64], condition))
    return found


def _check_step(spec: JourneySpec, index: int, step: Any, problems: Problems) -> None:
    path = f"steps[{index}]"
    if isinstance(step, SendStep):
        options = _send_options(spec.document, step, path, problems)
        if options is not None:
            spec.sends[step.id] = options
    elif isinstance(step, WaitStep):
        _check_wait(spec, step, path, problems)
    elif isinstance(step, BranchStep):
        spec.rules[step.id] = _branch_rules(spec, index, step, problems)


def _branch_rules(spec: JourneySpec, index: int, step: BranchStep, problems: Problems) -> list[Condition]:
    conditions = []
    for number, rule in enumerate(step.branch):
        where = f"steps[{index}].branch[{number}]"
        if (rule.if_ is None) == (rule.else_ is None) or (rule.else_ is not None and rule.goto is not None):
            problems.append((where, "a rule is {if: CONDITION, goto: STEP} or, last, {else: STEP}"))
            continue
        if rule.else_ is not None:
            if number != len(step.branch) - 1:
                problems.append((where, "else comes last"))
            continue
        if rule.goto is None:
            problems.append((f"{where}.goto", "say where a contact matching this rule goes"))
        condition = parse_condition(rule.if_, f"{where}.if", problems)
        if condition is not None:
            _check_step_refs(spec, step.id, condition, f"{where}.if", problems)
            conditions.append(condition)
    return conditions


def _check_step_refs(spec: JourneySpec, at: str, condition: Condition, path: str, problems: Problems) -> None:
    for name in step_references(condition):
        _check_send_ref(spec, at, name, f"{path}.step", problems)


def _check_send_ref(spec: JourneySpec, at: str, name: str, path: str, problems: Problems) -> None:
    """`name` must be a send step an enrollment passes before reaching `at`."""
    if spec.kinds.get(name) != "send":
        problems.append((path, f"{name!r} is not a send step of this journey"))
    elif name not in graph.ancestors(spec.document, at):
        problems.append((path, f"step {name!r} does not come before {at!r}"))


def _check_wait(spec: JourneySpec, step: WaitStep, path: str, problems: Problems) -> None:
    wait = step.wait
    kinds = wait.kinds()
    if len(kinds) != 1:
        problems.append((f"{path}.wait", "give one of for (a duration), until (a local time) or for_event"))
        return
    if wait.weekdays and wait.until is None:
        problems.append((f"{path}.wait.weekdays", "weekdays go with until (a local time)"))
    event_only = {"where": wait.where, "step": wait.step, "timeout": wait.timeout, "on_event": wait.on_event,
                  "on_timeout": wait.on_timeout}
    if wait.for_event is None:
        problems += [(f"{path}.wait.{key}", "only an event wait (for_event) takes this") for key, value in
                     event_only.items() if value]
        return
    if wait.timeout is None:
        problems.append((f"{path}.wait.timeout", "an event wait needs a timeout (e.g. 3d)"))
    if wait.step is not None:
        _check_send_ref(spec, step.id, wait.step, f"{path}.wait.step", problems)
    parsed = parse_condition({"event": wait.for_event, "where": wait.where}, f"{path}.wait", problems,
                             since_entry=True)
    if isinstance(parsed, EventSince):
        spec.waits_for[step.id] = parsed.condition


def _send_options(document: JourneyDocument, step: SendStep, path: str, problems: Problems) -> SendOptions | None:
    shared = document.model_dump(by_alias=True, exclude_defaults=True, include=set(SHARED))
    if "costs" in shared:
        shared["costs"] = {key: value for key, value in shared["costs"].items() if key != "fixed"}
    merged = {**{key: value for key, value in shared.items() if value}, **step.send}
    if "test" in step.send:
        problems.append((f"{path}.send.test", "a journey step has no A/B test phase: its variants split by weight"))
        return None
    schedule = step.send.get("schedule")
    if isinstance(schedule, dict | str) and (not isinstance(schedule, dict) or schedule.get("at") is not None):
        problems.append((f"{path}.send.schedule", "a step has no fixed time: use local_time or send_window_hours "
                                                  "(or a wait step)"))
        return None
    try:
        return parse_send_options(merged)
    except CampaignDefinitionError as exc:
        for inner, text in exc.problems:
            why = "unknown key" if text.startswith("Extra inputs are not permitted") else text
            key = inner.split(".")[0].split("[")[0]
            where = inner if key in shared and key not in step.send else f"{path}.send.{inner}".rstrip(".")
            if (where, why) not in problems:
                problems.append((where, why))
    except ValidationError as exc:  # pragma: no cover - parse_send_options converts these
        problems.append((f"{path}.send", str(exc)))
    return None


def check_references(session: Session, spec: JourneySpec) -> None:
    """Segments and templates the journey names must exist; conditions must compile (unknown segments named)."""
    problems: Problems = []
    trigger = spec.document.trigger
    if isinstance(trigger, SegmentTrigger) and session.scalar(
            select(Segment.id).where(Segment.name == trigger.segment)) is None:
        problems.append(("trigger.segment", f"no segment named {trigger.segment!r}"))
    for index, step in enumerate(spec.document.steps):
        options = spec.sends.get(step.id)
        if options is not None:
            problems += [(f"steps[{index}].send.{inner}", why) for inner, why in template_problems(session, options)]
        for number, condition in enumerate(spec.rules.get(step.id, [])):
            problems += _segment_problems(session, condition, f"steps[{index}].branch[{number}].if")
    if spec.goal is not None:
        problems += _segment_problems(session, spec.goal, "goal")
    for index, item in enumerate(spec.exits):
        problems += _segment_problems(session, item.condition, f"exit_when[{index}]")
    if problems:
        raise JourneyDefinitionError(problems)


def _segment_problems(session: Session, condition: Condition, path: str) -> Problems:
    """Unknown segments referred to by `{segment: NAME}` leaves, with their paths."""
    if isinstance(condition, Group):
        return [problem for index, child in enumerate(condition.children)
                for problem in _segment_problems(session, child, f"{path}.{condition.kind}[{index}]")]
    if isinstance(condition, Negation):
        return _segment_problems(session, condition.child, f"{path}.not")
    if not isinstance(condition, SegmentLeaf):
        return []
    try:
        resolve_segments(session, None, walk(condition.node, ""))
    except SegmentDefinitionError as exc:
        return [(f"{path}.{inner.lstrip('.')}" if inner.lstrip(".") else path, why) for inner, why in exc.problems]
    return []
