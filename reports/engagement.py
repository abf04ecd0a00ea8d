"""The per-message response cache (`message_stats`) that funnels read, kept up to date from the timeline.

Scanning tens of millions of events per page is what makes dashboards slow; instead every sent message gets one
row of 0/1 flags (delivered, opened by a person, clicked, bounced…) and the first time its contact converted,
submitted a lead form or replied STOP after it. `refresh` brings the cache up to date in a few set-based
statements: rows for newly sent messages (found by comparing counts per campaign), then only the events and
conversions added since the last refresh (cursors on their ids, re-reading a margin for transactions that
committed late; flags only ever go from 0 to 1 and times only move earlier, so re-reading is harmless).
`rebuild` starts over. These are the only writes in reports/ besides exchange rates: a cache of the timeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, delete, exists, func, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core import clock
from core.db import dialect_insert, greatest, least
from core.models import Conversion, Event, Message, MessageStat, ReportCursor
from reports.sql import is_sqlite, json_flag

MARGIN = 10_000  # ids re-read below each cursor: events whose transaction committed after a later one
FLAG_TYPES = ("email.delivered", "sms.delivered", "email.opened", "email.clicked", "email.unsubscribed",
              "email.bounced", "sms.failed", "mail.returned", "email.complained")
FLAGS = ("delivered", "opened", "machine_opened", "clicked", "unsubscribed", "bounced", "complained", "returned")
_FRESH = "relance_message_stats_fresh"


@dataclass(frozen=True)
class Refreshed:
    """What one refresh did."""

    new_messages: int
    events_read_from: int
    conversions_read_from: int
    skipped: bool = False


def _flag_values(session: Session) -> dict[str, ColumnElement[int]]:
    """Per event: 1 when it sets each flag (opens and clicks made by machines set no human flag)."""
    machine = json_flag(session, Event.properties, "machine")
    conditions = {
        "delivered": Event.type.in_(("email.delivered", "sms.delivered")),
        "opened": and_(Event.type == "email.opened", ~machine),
        "machine_opened": and_(Event.type == "email.opened", machine),
        "clicked": and_(Event.type == "email.clicked", ~machine),
        "unsubscribed": Event.type == "email.unsubscribed",
        "bounced": Event.type.in_(("email.bounced", "sms.failed")),
        "complained": Event.type == "email.complained",
        "returned": Event.type == "mail.returned",
    }
    return {name: func.max(case((condition, 1), else_=0)) for name, condition in conditions.items()}


def _lock(session: Session) -> bool:
    """One refresher at a time on PostgreSQL (others read the cache as it is); SQLite serialises writers itself."""
    if is_sqlite(session):
        return True
    return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(hashtext('relance.message_stats'))")).scalar())


def _cursor(session: Session, name: str) -> ReportCursor:
    row = session.get(ReportCursor, name)
    if row is None:
        row = ReportCursor(name=name, position=0)
        session.add(row)
    return row


def ensure_fresh(session: Session) -> None:
    """Refresh once per transaction (every report entry point calls this before reading funnels)."""
    transaction = session.get_transaction()
    if transaction is not None and session.info.get(_FRESH) is transaction:
        return
    refresh(session)
    session.info[_FRESH] = session.get_transaction()


def refresh(session: Session) -> Refreshed:
    """Bring message_stats up to date with messages, events and conversions."""
    if not _lock(session):
        return Refreshed(0, 0, 0, skipped=True)
    seen = {row.name: row.position for row in session.scalars(select(ReportCursor))}
    last_event = int(session.scalar(select(func.max(Event.id))) or 0)
    last_conversion = int(session.scalar(select(func.max(Conversion.id))) or 0)
    # Nothing new since the last refresh: read only (no write lock taken, no row touched).
    event_range = _new_range(seen.get("events"), last_event)
    conversion_range = _new_range(seen.get("conversions"), last_conversion)
    _apply_event_flags(session, event_range)
    _apply_contact_responses(session, event_range, conversion_range)
    added = _add_sent_messages(session)
    for name, position in (("events", last_event), ("conversions", last_conversion)):
        if seen.get(name) != position:
            cursor = _cursor(session, name)
            cursor.position, cursor.updated_at = position, clock.now()
    session.flush()
    return Refreshed(added, event_range[0], conversion_range[0])


def _new_range(position: int | None, last: int) -> tuple[int, int]:
    """(low, high] of ids to read: empty when nothing was added or on the first refresh (every row is then made
    from all time), else from a margin below the cursor."""
    if position is None or last <= position:
        return last, last
    return max(position - MARGIN, 0), last


def rebuild(session: Session) -> Refreshed:
    """Forget the cache and compute it again from the ledger and the whole timeline."""
    session.execute(delete(MessageStat))
    session.execute(delete(ReportCursor))
    session.flush()
    return refresh(session)


def _stale_campaigns(session: Session) -> list[int]:
    """Campaigns whose count of sent messages differs from their count of cached rows.

    Cached rows are a subset of sent messages (made only for them, deleted with them), so equal totals — two
    index-only counts — mean nothing to add; only then is the per-campaign comparison skipped.
    """
    sent_total = session.scalar(select(func.count(Message.sent_at))) or 0
    cached_total = session.scalar(select(func.count()).select_from(MessageStat)) or 0
    if sent_total == cached_total:
        return []
    sent = dict(session.execute(select(Message.campaign_id, func.count(Message.sent_at))
                                .group_by(Message.campaign_id)).tuples().all())
    cached = dict(session.execute(select(MessageStat.campaign_id, func.count())
                                  .group_by(MessageStat.campaign_id)).tuples().all())
    return sorted(campaign for campaign in {*sent, *cached} if sent.get(campaign, 0) != cached.get(campaign, 0))


def _first_response(kind: str) -> Any:
    """Correlated: the earliest response of the message's contact at or after its send (an index probe)."""
    table, conditions = _responses(kind, None)
    earliest = (select(func.min(table.occurred_at))
                .where(table.contact_id == Message.contact_id, table.occurred_at >= Message.sent_at, *conditions)
                .scalar_subquery())
    return case((Message.channel == "sms", earliest), else_=None) if kind == "stop" else earliest


def _initial_flag(session: Session, flags: Any, name: str) -> Any:
    """A flag from the message's events; `bounced` also from its ledger status (a bounce recorded without event)."""
    value = func.coalesce(flags.c[name], 0)
    if name == "bounced":
        return greatest(session)(value, case((Message.status.in_(("bounced", "failed")), 1), else_=0))
    return value


def _add_sent_messages(session: Session) -> int:
    """A complete row for every sent message without one (only in campaigns whose counts differ): its flags from
    all its events, its first responses from all time — one INSERT … SELECT."""
    stale = _stale_campaigns(session)
    if not stale:
        return 0
    flags = (select(Event.message_id.label("message_id"), *(value.label(name) for name, value in
                                                             _flag_values(session).items()))
             .where(Event.campaign_id.in_(stale), Event.type.in_(FLAG_TYPES)).group_by(Event.message_id)
             .subquery("all_flags"))
    rows = (select(Message.id, Message.campaign_id, Message.variant_id, Message.channel, Message.contact_id,
                   Message.sent_at, *(_initial_flag(session, flags, name) for name in FLAGS),
                   *(_first_response(kind) for kind in ("conversion", "lead", "stop")))
            .select_from(Message).outerjoin(flags, flags.c.message_id == Message.id)
            .where(Message.campaign_id.in_(stale), Message.sent_at.is_not(None),
                   ~exists().where(MessageStat.message_id == Message.id)))
    columns = ["message_id", "campaign_id", "variant_id", "channel", "contact_id", "sent_at", *FLAGS,
               "first_conversion_at", "first_lead_at", "first_stop_at"]
    statement = dialect_insert(session)(MessageStat).from_select(columns, rows).on_conflict_do_nothing()
    result = session.connection().execute(statement, execution_options={"preserve_rowcount": True})
    return int(result.rowcount or 0)


def _merge_flags(session: Session, source: Any) -> None:
    """OR the source's flags into the cached rows (UPDATE … FROM, one statement)."""
    bigger = greatest(session)
    session.execute(
        update(MessageStat).where(MessageStat.message_id == source.c.message_id)
        .values({name: bigger(getattr(MessageStat, name), source.c[name]) for name in FLAGS}),
        execution_options={"synchronize_session": False})


def _apply_event_flags(session: Session, id_range: tuple[int, int]) -> None:
    """Flags from the events added since the last refresh, for messages already cached."""
    low, high = id_range
    if high <= low:
        return
    source = (select(Event.message_id.label("message_id"), *(value.label(name) for name, value in
                                                              _flag_values(session).items()))
              .where(Event.id > low, Event.id <= high, Event.message_id.is_not(None), Event.type.in_(FLAG_TYPES))
              .group_by(Event.message_id).subquery("fresh_flags"))
    _merge_flags(session, source)


def _responses(kind: str, id_range: tuple[int, int] | None) -> tuple[Any, Sequence[Any]]:
    """(the response rows, extra conditions): contact, time; the range limits them to new ids."""
    table: Any
    conditions: list[Any]
    if kind == "conversion":
        table, conditions = Conversion, [Conversion.contact_id.is_not(None)]
    else:
        table = Event
        conditions = [Event.type == "form.submitted"] if kind == "lead" else [
            Event.type == "sms.received", Event.properties["keyword"].as_string() == "opt_out"]
    if id_range is not None:
        conditions += [table.id > id_range[0], table.id <= id_range[1]]
    return table, conditions


def _set_first(session: Session, kind: str, id_range: tuple[int, int]) -> None:
    """first_<kind>_at = the earliest response of the contact at or after the send (kept if already earlier)."""
    table, conditions = _responses(kind, id_range)
    column = {"conversion": "first_conversion_at", "lead": "first_lead_at", "stop": "first_stop_at"}[kind]
    on_channel = [MessageStat.channel == "sms"] if kind == "stop" else []
    earliest = (select(MessageStat.message_id.label("message_id"), func.min(table.occurred_at).label("at"))
                .join(table, and_(table.contact_id == MessageStat.contact_id, table.occurred_at >= MessageStat.sent_at))
                .where(*on_channel, *conditions)
                .group_by(MessageStat.message_id).subquery("earliest"))
    current = getattr(MessageStat, column)
    session.execute(
        update(MessageStat).where(MessageStat.message_id == earliest.c.message_id)
        .values({column: least(session)(func.coalesce(current, earliest.c.at), earliest.c.at)}),
        execution_options={"synchronize_session": False})


def _apply_contact_responses(session: Session, events: tuple[int, int], conversions: tuple[int, int]) -> None:
    if events[1] > events[0]:
        _set_first(session, "lead", events)
        _set_first(session, "stop", events)
    if conversions[1] > conversions[0]:
        _set_first(session, "conversion", conversions)
