"""An update step on the batch's contacts, set-based: fields and `attributes.*`, tags added or removed, score points,
a lifecycle stage (with its `stage.changed` event) — one statement per kind of change."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, delete, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Session

from contacts.timeline import record_events_from_select
from core.dialect import dialect_insert, json_object
from core.models import Contact, ContactTag, Tag, UTCDateTime
from journeys.batch import BATCH, B, acting
from journeys.language import UpdateSpec


def _contacts() -> Any:
    return select(B.contact_id).where(acting())


def apply_update(session: Session, spec: UpdateSpec, *, journey: str, step: str, at: datetime) -> None:
    """Apply `spec` to the contacts of the acting batch rows (the caller's transaction makes it exactly once)."""
    columns = {key: value for key, value in spec.set.items() if not key.startswith("attributes.")}
    attributes = {key.removeprefix("attributes."): value for key, value in spec.set.items()
                  if key.startswith("attributes.")}
    values: dict[str, Any] = {**columns, "updated_at": at}
    if spec.score:
        values["score"] = Contact.score + spec.score
    if attributes:
        values["attributes"] = _merged_attributes(session, attributes)
    if spec.lifecycle_stage is not None:
        _record_stage_changes(session, spec.lifecycle_stage, journey=journey, step=step, at=at)
        values["lifecycle_stage"] = spec.lifecycle_stage
    session.execute(update(Contact).where(Contact.id.in_(_contacts())).values(**values),
                    execution_options={"synchronize_session": False})
    if spec.add_tags:
        _add_tags(session, spec.add_tags)
    if spec.remove_tags:
        session.execute(delete(ContactTag).where(
            ContactTag.tag_id.in_(select(Tag.id).where(Tag.name.in_(spec.remove_tags))),
            ContactTag.contact_id.in_(_contacts())), execution_options={"synchronize_session": False})


def _merged_attributes(session: Session, attributes: dict[str, Any]) -> Any:
    """`attributes` with these keys set (a null value removes the key), as SQL."""
    if session.get_bind().dialect.name == "sqlite":
        return func.json_patch(func.coalesce(Contact.attributes, text("'{}'")), json.dumps(attributes))
    kept = {key: value for key, value in attributes.items() if value is not None}
    removed = [key for key, value in attributes.items() if value is None]
    current: Any = func.coalesce(Contact.attributes, cast(literal("{}"), JSONB))
    if removed:
        current = current.op("-")(cast(literal(removed, ARRAY(String)), ARRAY(String)))
    return current.op("||")(cast(literal(json.dumps(kept)), JSONB))


def _add_tags(session: Session, names: tuple[str, ...]) -> None:
    insert = dialect_insert(session)
    session.execute(insert(Tag).values([{"name": name} for name in names]).on_conflict_do_nothing())
    tagged = select(B.contact_id, Tag.id).select_from(BATCH).join(Tag, Tag.name.in_(names)).where(acting())
    session.execute(insert(ContactTag).from_select(["contact_id", "tag_id"], tagged).on_conflict_do_nothing())


def _record_stage_changes(session: Session, stage: str, *, journey: str, step: str, at: datetime) -> None:
    """`stage.changed` {from, to, reason} for the contacts whose stage this step changes."""
    current = func.coalesce(Contact.lifecycle_stage, literal("subscriber"))
    key = literal(f"journey-stage:{journey}:{step}:{at.isoformat()}:", String) + cast(Contact.id, String)
    source = (select(Contact.id.label("contact_id"), literal("stage.changed", String).label("type"),
                     literal(at, UTCDateTime()).label("occurred_at"),
                     json_object(session, **{"from": current, "to": stage, "reason": f"journey {journey}"})
                     .label("properties"), key.label("dedupe_key"),
                     literal(at, UTCDateTime()).label("created_at"))
              .where(Contact.id.in_(_contacts()), current != stage))
    record_events_from_select(session, source)
