"""Compiles a segment definition to one `select(Contact.id)`: resolve names, push NOT down, then emit SQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, and_, exists, false, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core import clock
from core.models import Contact, ContactTag, Segment, SegmentMembership, Survey, Tag
from core.settings import get_settings
from segments.compile_context import Context, ensure_sqlite_functions
from segments.language import (
    AllNode,
    AnyNode,
    EventCondition,
    FieldCondition,
    GradeCondition,
    NotNode,
    ReachableCondition,
    ScoreCondition,
    SegmentCondition,
    SegmentDefinition,
    SegmentDefinitionError,
    StageCondition,
    SurveyCondition,
    TagCondition,
    parse_definition,
    parse_node,
)
from segments.reachability import reachable_condition
from segments.sql_behaviour import count_predicate, event_condition
from segments.sql_fields import POSITIVE_OF, field_condition, two_valued_negation
from segments.sql_surveys import survey_condition

# --- pass 1: walk and resolve segment references (unknown names and cycles are errors) ---------------


def walk(node: BaseModel, path: str) -> Iterator[tuple[str, BaseModel]]:
    """Every node under `node` (itself first) with its path, e.g. conditions[2].any[0]."""
    yield path, node
    if isinstance(node, AllNode | AnyNode):
        key = "all" if isinstance(node, AllNode) else "any"
        for index, child in enumerate(getattr(node, key)):
            yield from walk(child, f"{path}.{key}[{index}]" if path else f"{key}[{index}]")
    elif isinstance(node, NotNode):
        yield from walk(node.not_, f"{path}.not" if path else "not")


def top_level_nodes(definition: SegmentDefinition) -> Iterator[tuple[str, BaseModel]]:
    for index, node in enumerate(definition.conditions):
        yield from walk(node, f"conditions[{index}]")


def segment_references(definition: dict[str, Any]) -> list[str]:
    try:
        parsed = parse_definition(definition)
    except SegmentDefinitionError:
        return []
    return [node.segment for _, node in top_level_nodes(parsed) if isinstance(node, SegmentCondition)]


def _reaches(session: Session, start: str, target: str | None, seen: set[str]) -> bool:
    """Whether segment `start` depends (transitively) on `target`."""
    if target is None or start in seen:
        return False
    seen.add(start)
    row = session.execute(select(Segment.definition).where(Segment.name == start)).first()
    refs = segment_references(row[0]) if row is not None and row[0] else []
    return target in refs or any(_reaches(session, ref, target, seen) for ref in refs)


def resolve_segments(session: Session, name: str | None, nodes: Iterator[tuple[str, BaseModel]]) -> dict[str, int]:
    """Segment ids by name for every `{segment: ...}` node; unknown segment (or survey) names and cycles raise,
    naming the path."""
    ids: dict[str, int] = {}
    problems: list[tuple[str, str]] = []
    for path, node in nodes:
        if isinstance(node, SurveyCondition) and session.scalar(
                select(Survey.id).where(Survey.name == node.survey)) is None:
            problems.append((f"{path}.survey", f"no survey named {node.survey!r}"))
        if not isinstance(node, SegmentCondition):
            continue
        segment_id = session.scalar(select(Segment.id).where(Segment.name == node.segment))
        if node.segment == name or _reaches(session, node.segment, name, set()):
            problems.append((f"{path}.segment", f"segment {node.segment!r} refers back to {name!r} (a cycle)"))
        elif segment_id is None:
            problems.append((f"{path}.segment", f"no segment named {node.segment!r}"))
        else:
            ids[node.segment] = segment_id
    if problems:
        raise SegmentDefinitionError(problems)
    return ids


# --- pass 2: negation normal form (NOT only on leaves, so NULLs never flip a result) -----------------


@dataclass(frozen=True)
class Nnf:
    """A node in negation normal form: 'and'/'or' over children, or a (possibly negated) leaf."""

    kind: str  # and | or | leaf
    children: tuple[Nnf, ...] = ()
    leaf: BaseModel | None = None
    negated: bool = False


def normalise(node: BaseModel, negated: bool = False) -> Nnf:
    """Push NOT down to the leaves (De Morgan) and turn ne/not_in/is_not_set into negated eq/in/is_set."""
    if isinstance(node, NotNode):
        return normalise(node.not_, not negated)
    if isinstance(node, AllNode | AnyNode):
        children = node.all if isinstance(node, AllNode) else node.any
        conjunction = isinstance(node, AllNode) != negated
        return Nnf("and" if conjunction else "or", tuple(normalise(child, negated) for child in children))
    if isinstance(node, FieldCondition) and node.op in POSITIVE_OF:
        return Nnf("leaf", leaf=node.model_copy(update={"op": POSITIVE_OF[node.op]}), negated=not negated)
    return Nnf("leaf", leaf=node, negated=negated)


# --- pass 3: emit SQL ---------------------------------------------------------------------------------


def _leaf(ctx: Context, node: BaseModel) -> tuple[ColumnElement[bool], bool]:
    """(predicate, two_valued): two-valued predicates are never NULL, so plain NOT negates them."""
    if isinstance(node, FieldCondition):
        return field_condition(ctx, node, node.op), node.field.startswith("account.")
    if isinstance(node, EventCondition):
        return event_condition(ctx, node), True
    if isinstance(node, TagCondition):
        tagged = exists().where(ContactTag.contact_id == Contact.id, ContactTag.tag_id == Tag.id)
        return tagged.where(Tag.name.in_(node.tag)), True
    if isinstance(node, SegmentCondition):
        member = exists().where(SegmentMembership.segment_id == ctx.segment_ids[node.segment],
                                SegmentMembership.contact_id == Contact.id)
        return member, True
    if isinstance(node, StageCondition):
        return Contact.lifecycle_stage.in_(node.lifecycle_stage), True
    if isinstance(node, GradeCondition):
        return Contact.grade.in_(node.grade), False
    if isinstance(node, ScoreCondition):
        return count_predicate(node.score, Contact.score), True
    if isinstance(node, ReachableCondition):
        return reachable_condition(ctx, node.reachable), True
    if isinstance(node, SurveyCondition):
        return survey_condition(node), True
    raise TypeError(f"not a leaf: {type(node).__name__}")


def emit(ctx: Context, node: Nnf) -> ColumnElement[bool]:
    """SQL for a normalised node."""
    if node.kind == "and":
        return and_(*(emit(ctx, child) for child in node.children)) if node.children else true()
    if node.kind == "or":
        return or_(*(emit(ctx, child) for child in node.children)) if node.children else false()
    assert node.leaf is not None
    predicate, two_valued = _leaf(ctx, node.leaf)
    if not node.negated:
        return predicate
    return ~predicate if two_valued else two_valued_negation(predicate)


# --- public API -----------------------------------------------------------------------------------------


def make_context(session: Session, segment_ids: dict[str, int] | None = None) -> Context:
    """A compilation context for this session's database, at the clock's `now`."""
    ensure_sqlite_functions(session)
    return Context(dialect=session.get_bind().dialect.name, now=clock.now(),
                   default_timezone=get_settings().default_timezone, segment_ids=segment_ids or {})


def as_definition(definition: SegmentDefinition | dict[str, Any]) -> SegmentDefinition:
    """A parsed definition from either form."""
    return definition if isinstance(definition, SegmentDefinition) else parse_definition(definition)


def compile_definition(session: Session, definition: SegmentDefinition | dict[str, Any]) -> Select[Any]:
    """One `SELECT contacts.id` for the definition (bound parameters only; erased contacts never match)."""
    parsed = as_definition(definition)
    ctx = make_context(session, resolve_segments(session, parsed.name, top_level_nodes(parsed)))
    return select(Contact.id).where(Contact.erased_at.is_(None), emit(ctx, normalise(parsed.root)))


def compile_condition(session: Session, node: BaseModel | dict[str, Any]) -> ColumnElement[bool]:
    """A WHERE clause over `Contact` for one condition node (a model or its dict form), never NULL."""
    parsed = parse_node(node) if isinstance(node, dict) else node
    if isinstance(parsed, SegmentDefinition):
        return compile_where(session, parsed)
    ctx = make_context(session, resolve_segments(session, None, walk(parsed, "")))
    return emit(ctx, normalise(parsed))


def compile_where(session: Session, definition: SegmentDefinition | dict[str, Any]) -> ColumnElement[bool]:
    """The WHERE clause of a whole definition (its conditions combined by `match`)."""
    parsed = as_definition(definition)
    ctx = make_context(session, resolve_segments(session, parsed.name, top_level_nodes(parsed)))
    return emit(ctx, normalise(parsed.root))
