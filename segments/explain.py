"""Explain a segment for one contact: every condition of the definition, met or failed, in one query."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy import case, exists, literal, select
from sqlalchemy.orm import Session

from core.models import Contact, Segment, SegmentMembership
from segments.compiler import emit, make_context, normalise, resolve_segments, top_level_nodes
from segments.language import (
    AllNode,
    AnyNode,
    EventCondition,
    FieldCondition,
    NotNode,
    SegmentDefinition,
)
from segments.service import definition_of, get_segment


@dataclass
class Explanation:
    """One node of the definition: what it says, where it is, and whether the contact meets it."""

    path: str
    label: str
    met: bool
    children: list[Explanation] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "condition": self.label, "met": self.met,
                "children": [child.as_dict() for child in self.children]}


def describe(node: BaseModel) -> str:
    """A one-line human reading of a node."""
    if isinstance(node, AllNode):
        return "all of"
    if isinstance(node, AnyNode):
        return "any of"
    if isinstance(node, NotNode):
        return "not"
    if isinstance(node, FieldCondition):
        value = "" if node.value is None else f" {list(node.value) if isinstance(node.value, tuple) else node.value}"
        return f"{node.field} {node.op}{value}"
    if isinstance(node, EventCondition):
        parts = [node.event]
        if node.within:
            parts.append(f"within {node.within}")
        if node.after or node.before:
            parts.append(f"between {node.after or '…'} and {node.before or '…'}")
        parts += [f"{key} {match.op} {match.value}" for key, match in node.where.items()]
        if node.campaign is not None:
            parts.append(f"campaign {node.campaign}")
        parts.append("count " + ", ".join(f"{op} {bound:g}" for op, bound in node.count.bounds()))
        return " ".join(parts)
    return _describe_shorthand(node)


def _describe_shorthand(node: BaseModel) -> str:
    key, value = next(iter(node.model_dump(mode="json").items()))
    if isinstance(value, list):
        return f"{key} {value[0]}" if len(value) == 1 else f"{key} in [{', '.join(map(str, value))}]"
    if isinstance(value, dict):
        return f"{key} " + ", ".join(f"{op} {bound:g}" for op, bound in value.items() if bound is not None)
    return f"{key} {value}"


def _children(node: BaseModel, path: str) -> list[tuple[str, BaseModel]]:
    if isinstance(node, AllNode | AnyNode):
        key = "all" if isinstance(node, AllNode) else "any"
        return [(f"{path}.{key}[{index}]" if path else f"{key}[{index}]", child)
                for index, child in enumerate(getattr(node, key))]
    if isinstance(node, NotNode):
        return [(f"{path}.not" if path else "not", node.not_)]
    return []


def explain_definition(session: Session, definition: SegmentDefinition, contact_id: int) -> Explanation:
    """The definition's tree, each node evaluated for `contact_id` (one SELECT with a column per node)."""
    ctx = make_context(session, resolve_segments(session, definition.name, top_level_nodes(definition)))
    nodes: list[tuple[str, BaseModel]] = []

    def collect(path: str, node: BaseModel) -> None:
        nodes.append((path, node))
        for child_path, child in _children(node, path):
            collect(child_path, child)

    root = definition.root
    for index, node in enumerate(definition.conditions):
        collect(f"conditions[{index}]", node)
    columns = [case((emit(ctx, normalise(root)), 1), else_=0)]
    columns += [case((emit(ctx, normalise(node)), 1), else_=0) for _, node in nodes]
    row = session.execute(select(*columns).where(Contact.id == contact_id)).one()
    met = {path: bool(value) for (path, _), value in zip(nodes, row[1:], strict=True)}
    by_path = dict(nodes)

    def build(path: str) -> Explanation:
        node = by_path[path]
        return Explanation(path, describe(node), met[path], [build(child) for child, _ in _children(node, path)])

    top = [build(f"conditions[{index}]") for index in range(len(definition.conditions))]
    return Explanation("", f"{definition.match} of ({definition.name or 'definition'})", bool(row[0]), top)


def find_contact(session: Session, key: str | int) -> int:
    """A contact id from an id or an email address."""
    text = str(key).strip()
    query = select(Contact.id).where(Contact.id == int(text)) if text.isdigit() else select(Contact.id).where(
        Contact.email == text.lower())
    contact_id = session.scalar(query)
    if contact_id is None:
        raise LookupError(f"no contact {key!r}")
    return int(contact_id)


def explain(session: Session, segment: Segment | str, contact: int | str) -> Explanation:
    """Which conditions of `segment` the contact meets and which it fails (a static list: membership)."""
    segment = segment if isinstance(segment, Segment) else get_segment(session, segment)
    contact_id = find_contact(session, contact)
    if segment.kind == "static":
        member = exists().where(SegmentMembership.segment_id == segment.id, SegmentMembership.contact_id == contact_id)
        is_member = bool(session.scalar(select(case((member, literal(1)), else_=literal(0)))))
        return Explanation("", f"member of static list {segment.name}", is_member)
    return explain_definition(session, definition_of(segment), contact_id)
