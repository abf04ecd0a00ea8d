"""Segments as stored objects: create, find, list, count and preview definitions, fill static lists."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from core import clock
from core.models import Contact, Segment, SegmentMembership
from segments.compile_context import tune_for_segments
from segments.compiler import as_definition, compile_definition, segment_references
from segments.language import SegmentDefinition, SegmentDefinitionError
from segments.membership import enter, leave, member_count

KINDS = ("dynamic", "static")
PREVIEW_COLUMNS = ("id", "email", "first_name", "last_name", "country", "lifecycle_stage", "score")


class SegmentNotFound(LookupError):
    """No segment has that name (or id)."""


def get_segment(session: Session, name_or_id: str | int) -> Segment:
    """The segment with this name (or numeric id)."""
    query = select(Segment).where(Segment.name == str(name_or_id))
    if isinstance(name_or_id, int) or str(name_or_id).isdigit():
        query = select(Segment).where(or_(Segment.name == str(name_or_id), Segment.id == int(name_or_id)))
    segment = session.scalars(query).first()
    if segment is None:
        raise SegmentNotFound(f"no segment named {name_or_id!r}")
    return segment


def list_segments(session: Session) -> list[Segment]:
    """Every segment, by name."""
    return list(session.scalars(select(Segment).order_by(Segment.name)))


def create_segment(
    session: Session, name: str, definition: SegmentDefinition | dict[str, Any] | None = None, *,
    kind: str = "dynamic", description: str | None = None, replace: bool = False,
) -> Segment:
    """Save a segment; a dynamic one needs a definition, which is validated and compiled (references, cycles)
    before anything is written. With `replace`, an existing segment of that name gets the new definition."""
    if kind not in KINDS:
        raise ValueError(f"kind must be dynamic or static, not {kind!r}")
    if kind == "dynamic" and definition is None:
        raise SegmentDefinitionError([("conditions", "a dynamic segment needs a definition")])
    stored: dict[str, Any] = {}
    if definition is not None:
        parsed = as_definition(definition).model_copy(update={"name": name, "kind": kind})
        compile_definition(session, parsed)
        stored = parsed.to_json()
        description = description or parsed.description
    segment = session.scalars(select(Segment).where(Segment.name == name)).first()
    if segment is not None and not replace:
        raise ValueError(f"a segment named {name!r} already exists (use replace to update it)")
    if segment is None:
        segment = Segment(name=name)
        session.add(segment)
    segment.kind, segment.definition, segment.description = kind, stored, description
    session.flush()
    return segment


def delete_segment(session: Session, name: str) -> None:
    """Remove a segment and its memberships; refused while another segment's definition refers to it."""
    segment = get_segment(session, name)
    users = [other.name for other in list_segments(session)
             if other.id != segment.id and segment.name in segment_references(other.definition)]
    if users:
        raise ValueError(f"segment {segment.name!r} is used by {', '.join(users)}; change those first")
    session.execute(delete(SegmentMembership).where(SegmentMembership.segment_id == segment.id))
    session.delete(segment)
    session.flush()


def definition_of(segment: Segment) -> SegmentDefinition:
    """The parsed definition of a stored segment (named after it)."""
    return as_definition({**segment.definition, "name": segment.name})


def members_query(session: Session, target: Segment | SegmentDefinition | dict[str, Any]) -> Any:
    """`SELECT id` of the contacts in a stored segment right now (static: its list; dynamic: its definition,
    evaluated live) or matching an unsaved definition."""
    if isinstance(target, Segment):
        if target.kind == "static":
            return select(SegmentMembership.contact_id.label("id")).where(SegmentMembership.segment_id == target.id)
        return compile_definition(session, definition_of(target))
    return compile_definition(session, target)


def count(session: Session, target: Segment | SegmentDefinition | dict[str, Any]) -> int:
    """How many contacts match a definition (or a stored segment, evaluated live) right now."""
    tune_for_segments(session)
    return int(session.scalar(select(func.count()).select_from(members_query(session, target).subquery())) or 0)


def preview(
    session: Session, target: Segment | SegmentDefinition | dict[str, Any], *, limit: int = 20
) -> list[dict[str, Any]]:
    """The first `limit` matching contacts (by id) with a few identifying columns."""
    tune_for_segments(session)
    ids = members_query(session, target).subquery()
    columns = [getattr(Contact, name) for name in PREVIEW_COLUMNS]
    rows = session.execute(select(*columns).where(Contact.id.in_(select(ids.c[0]))).order_by(Contact.id).limit(limit))
    return [dict(zip(PREVIEW_COLUMNS, row, strict=True)) for row in rows]


def _chunks(items: Iterable[Any], size: int = 1000) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _contacts_matching(keys: list[str | int]) -> Any:
    emails = [str(key).strip().lower() for key in keys if isinstance(key, str) and "@" in key]
    ids = [int(key) for key in keys if isinstance(key, int) or str(key).strip().isdigit()]
    return select(Contact.id).where(or_(Contact.email.in_(emails), Contact.id.in_(ids)), Contact.erased_at.is_(None))


def _static(session: Session, name: str) -> Segment:
    segment = get_segment(session, name)
    if segment.kind != "static":
        raise ValueError(f"segment {name!r} is dynamic: its members come from its definition")
    return segment


def add_members(session: Session, name: str, keys: Iterable[str | int]) -> int:
    """Add contacts (emails or ids) to a static segment, in batches; unknown keys are skipped. Returns how many
    joined (each gets a `segment.entered` event)."""
    segment, at, added = _static(session, name), clock.now(), 0
    for batch in _chunks(keys):
        added += enter(session, segment, _contacts_matching(batch), at)
    _resize(session, segment, at)
    return added


def remove_members(session: Session, name: str, keys: Iterable[str | int]) -> int:
    """Remove contacts (emails or ids) from a static segment; returns how many left."""
    segment, at, removed = _static(session, name), clock.now(), 0
    for batch in _chunks(keys):
        leaving = _contacts_matching(batch)
        removed += leave(session, segment, lambda contact_id, ids=leaving: contact_id.not_in(ids), at)
    _resize(session, segment, at)
    return removed


def keys_from_csv(path: str | Path) -> Iterator[str]:
    """Emails or ids from a CSV: the `email` column, else `id`/`contact_id`, else the first column."""
    with Path(path).open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        fields = [name.strip().lower() for name in reader.fieldnames or []]
        if not fields:
            return
        wanted = next((name for name in ("email", "id", "contact_id") if name in fields), fields[0])
        original = (reader.fieldnames or [])[fields.index(wanted)]
        for row in reader:
            value = (row.get(original) or "").strip()
            if value:
                yield value


def _resize(session: Session, segment: Segment, at: Any) -> None:
    segment.size = member_count(session, segment)
    segment.refreshed_at = at
    session.flush()
