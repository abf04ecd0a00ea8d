"""Merging two contacts into one: fields by the import precedence, history moved, an audit row kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contacts.imports.mapping import CONTACT_FIELDS
from contacts.timeline import NewEvent, move_stats, record_events
from core import clock
from core.models import AuditLog, Base, Consent, Contact, ContactTag, Message, SegmentMembership

STAGE_ORDER = ("subscriber", "lead", "mql", "sql", "opportunity", "customer", "evangelist")
_UNIQUE_FIELDS = ("email", "external_id")
# Where a survivor remembers the merged contact's identity keys (imports then find the survivor by them).
ALIAS_ATTRIBUTES = {"email": "other_emails", "external_id": "other_external_ids"}
_HANDLED_TABLES = {"contact_event_stats", "consents", "contact_tags", "segment_memberships", "messages"}


class MergeError(ValueError):
    """Two contacts that cannot be merged, with the reason."""


@dataclass
class MergeResult:
    """What a merge did."""

    survivor_id: int
    merged_id: int
    fields_taken: dict[str, Any] = field(default_factory=dict)
    moved: dict[str, int] = field(default_factory=dict)


def merge_contacts(session: Session, survivor_id: int, other_id: int, *, actor: str = "cli") -> MergeResult:
    """Merge `other_id` into `survivor_id` (which keeps its id); the caller commits.

    Fields: non-empty wins; when both differ, the more recently updated contact wins — except the survivor's
    email and external id, which it keeps (the other's are remembered in `attributes.other_emails` and
    `attributes.other_external_ids`, so a later import of the old rows finds the survivor). Tags, segment
    memberships, events, conversions and messages move to the survivor; per channel the more recent consent
    is kept; engagement counters are summed.
    """
    if survivor_id == other_id:
        raise MergeError("cannot merge a contact with itself")
    survivor, other = session.get(Contact, survivor_id), session.get(Contact, other_id)
    if survivor is None or other is None:
        raise MergeError(f"no contact with id {survivor_id if survivor is None else other_id}")
    if survivor.erased_at or other.erased_at:
        raise MergeError("erased contacts cannot be merged")
    result = MergeResult(survivor_id, other_id)
    result.fields_taken = _merge_fields(session, survivor, other)
    _merge_history(session, survivor_id, other_id, result)
    session.delete(other)
    session.flush()
    session.add(AuditLog(actor=actor, action="contact.merge", target=f"contact:{survivor_id}",
                         details={"merged_contact_id": other_id, "fields_taken": sorted(result.fields_taken),
                                  "moved": result.moved}))
    record_events(session, [NewEvent("contact.merged", f"merge:{other_id}:{survivor_id}", survivor_id, clock.now(),
                                     properties={"merged_contact_id": other_id})])
    return result


def _merge_fields(session: Session, survivor: Contact, other: Contact) -> dict[str, Any]:
    other_newer = other.updated_at > survivor.updated_at
    taken: dict[str, Any] = {}
    for name in (*CONTACT_FIELDS, "account_id"):
        mine, theirs = getattr(survivor, name), getattr(other, name)
        if theirs is None or mine == theirs or (mine is not None and name in _UNIQUE_FIELDS):
            continue  # the survivor keeps its own identity keys
        if mine is None or other_newer:
            taken[name] = theirs
    aliases = _aliases(survivor, other, taken)
    for name in _UNIQUE_FIELDS:  # free the unique values before the survivor takes them
        if name in taken:
            setattr(other, name, None)
    session.flush()
    for name, value in taken.items():
        setattr(survivor, name, value)
        if name in ("email", "phone"):
            channel = "email" if name == "email" else "sms"
            setattr(survivor, f"{channel}_status", getattr(other, f"{channel}_status"))
    older, newer = (survivor.attributes, other.attributes) if other_newer else (other.attributes, survivor.attributes)
    survivor.attributes = {**older, **newer, **aliases}
    stages = [stage for stage in (survivor.lifecycle_stage, other.lifecycle_stage) if stage in STAGE_ORDER]
    if stages:
        survivor.lifecycle_stage = max(stages, key=STAGE_ORDER.index)
    survivor.score = max(survivor.score, other.score)
    survivor.updated_at = clock.now()
    session.flush()
    return taken


def _aliases(survivor: Contact, other: Contact, taken: dict[str, Any]) -> dict[str, list[str]]:
    """Both contacts' known aliases plus the other's email / external id when the survivor keeps its own."""
    aliases: dict[str, list[str]] = {}
    for name, alias in ALIAS_ATTRIBUTES.items():
        known = {*survivor.attributes.get(alias, []), *other.attributes.get(alias, [])}
        theirs, mine = getattr(other, name), getattr(survivor, name)
        if theirs and mine and theirs != taken.get(name, mine):
            known.add(theirs)
        if known:
            aliases[alias] = sorted(known)
    return aliases


def _merge_history(session: Session, keep: int, drop: int, result: MergeResult) -> None:
    move_stats(session, to=keep, source=drop)
    _move_consents(session, keep, drop)
    result.moved["tags"] = _move_links(session, ContactTag.__table__, "tag_id", keep, drop)
    result.moved["segment_memberships"] = _move_links(session, SegmentMembership.__table__, "segment_id", keep, drop)
    result.moved["messages"] = _move_messages(session, keep, drop)
    for table, column in _referencing_columns():
        if table.name in _HANDLED_TABLES:
            continue
        result.moved[table.name] = _move_rows(session, table, column, keep, drop)


def _referencing_columns() -> list[tuple[Table, str]]:
    found = []
    for table in Base.metadata.sorted_tables:
        for foreign_key in table.foreign_keys:
            if foreign_key.column.table.name == "contacts" and table.name != "contacts":
                found.append((table, foreign_key.parent.name))
    return found


def _move_rows(session: Session, table: Table, column: str, keep: int, drop: int) -> int:
    """Point rows of another capability's table at the survivor (left in place if a unique key forbids it)."""
    try:
        with session.begin_nested():
            moved = session.execute(update(table).where(table.c[column] == drop).values({column: keep}))
    except IntegrityError:
        return 0
    return int(getattr(moved, "rowcount", 0) or 0)


def _move_links(session: Session, table: Any, other_key: str, keep: int, drop: int) -> int:
    """Move association rows (contact, X) unless the survivor already has X."""
    already = select(table.c[other_key]).where(table.c.contact_id == keep)
    moved = session.execute(
        update(table).where(table.c.contact_id == drop, table.c[other_key].not_in(already)).values(contact_id=keep)
    )
    session.execute(delete(table).where(table.c.contact_id == drop))
    return int(getattr(moved, "rowcount", 0) or 0)


def _move_messages(session: Session, keep: int, drop: int) -> int:
    """Ledger rows move; where both got the same campaign the moved row takes a free rotation number."""
    table: Any = Message.__table__
    clash = select(table.c.campaign_id).where(table.c.contact_id == keep)
    session.execute(update(table).where(table.c.contact_id == drop, table.c.campaign_id.in_(clash))
                    .values(rotation=table.c.rotation + 1000))
    moved = session.execute(update(table).where(table.c.contact_id == drop).values(contact_id=keep))
    return int(getattr(moved, "rowcount", 0) or 0)


def _move_consents(session: Session, keep: int, drop: int) -> None:
    """Per channel and topic the more recent consent wins (its proof comes with it)."""
    mine = {(row.channel, row.topic): row for row in session.scalars(select(Consent).where(Consent.contact_id == keep))}
    for theirs in session.scalars(select(Consent).where(Consent.contact_id == drop)).all():
        current = mine.get((theirs.channel, theirs.topic))
        if current is None:
            theirs.contact_id = keep
            continue
        if clock.utc(theirs.occurred_at) > clock.utc(current.occurred_at):
            for name in ("status", "source", "form", "wording_version", "ip", "user_agent", "occurred_at"):
                setattr(current, name, getattr(theirs, name))
        session.delete(theirs)
    session.flush()
