"""New sent messages into the per-message cache: staged in one statement, then completed set-wise.

A sent message gets a complete row at once: what the ledger says of it, its flags from all its events, and its
contact's first conversion / lead form / STOP after it — each a GROUP BY over a join of the staged rows with the
responses (hash joins on PostgreSQL, index probes on SQLite), not a correlated lookup per message. The staged
rows then go into the daily sums and the attribution touches.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Table,
    and_,
    case,
    exists,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session

from core.dialect import analyze, greatest, is_sqlite, temporary
from core.ledger import NOT_DELIVERED
from core.models import Conversion, Event, Message, MessageStat, UTCDateTime
from reports.caches import daily, touches
from reports.caches.columns import FIRSTS, FLAG_TYPES, FLAGS
from reports.caches.staging import bulk_load
from reports.sql import json_flag

STATS: Table = MessageStat.__table__  # type: ignore[assignment]
BULK = 100_000  # staged rows from which the cache's indexes are dropped during the load and made again after
LEDGER_COLUMNS = ("campaign_id", "variant_id", "channel", "provider", "contact_id", "planned_at", "sent_at", "cost",
                  "parts")


def _staged_columns() -> list[Column[Any]]:
    return [Column("message_id", String(36)), Column("campaign_id", Integer),
            Column("variant_id", Integer), Column("channel", String(16)), Column("provider", String(32)),
            Column("contact_id", Integer), Column("planned_at", UTCDateTime()), Column("sent_at", UTCDateTime()),
            Column("cost", Numeric(14, 4)), Column("parts", Integer), Column("failed", SmallInteger)]


def flag_values(session: Session, *, joined: bool = False) -> dict[str, Any]:
    """Per event: 1 when it sets each flag (opens and clicks made by machines set no human flag); `joined`: over an
    outer join where a message without events has one row of NULLs (0 then)."""
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
    if joined:
        return {name: func.coalesce(func.max(case((condition, 1), else_=0)), 0)
                for name, condition in conditions.items()}
    return {name: func.max(case((condition, 1), else_=0)) for name, condition in conditions.items()}


def responses(kind: str) -> tuple[Any, list[Any]]:
    """(the response table, its conditions) of a first-response kind: conversion, lead form, SMS STOP."""
    if kind == "conversion":
        return Conversion, [Conversion.contact_id.is_not(None)]
    if kind == "lead":
        return Event, [Event.type == "form.submitted"]
    return Event, [Event.type == "sms.received", Event.properties["keyword"].as_string() == "opt_out"]


def add_sent(session: Session, campaigns: list[int], window_days: float) -> int:
    """Cache every sent message of these campaigns that has no row yet; returns how many."""
    if not campaigns:
        return 0
    with temporary(session, "relance_new_sends", *_staged_columns()) as staged:
        ledger = [Message.campaign_id, Message.variant_id, Message.channel, Message.provider, Message.contact_id,
                  Message.created_at, Message.sent_at, Message.cost, Message.parts,
                  case((Message.status.in_(NOT_DELIVERED), 1), else_=0)]
        result = session.connection().execute(insert(staged).from_select(
            ["message_id", *LEDGER_COLUMNS, "failed"],
            _in_id_order(session, select(Message.id, *ledger).where(
                Message.campaign_id.in_(campaigns), Message.sent_at.is_not(None),
                ~exists().where(STATS.c.message_id == Message.id)))),
            execution_options={"preserve_rowcount": True})
        added = int(getattr(result, "rowcount", 0) or 0)
        if added:
            for index in (Index("relance_new_sends_id", staged.c.message_id, unique=True),
                          Index("relance_new_sends_contact", staged.c.contact_id, staged.c.sent_at)):
                index.create(session.connection())  # after the rows went in: one sort each
            analyze(session, staged)
            cached = int(session.scalar(select(func.count()).select_from(STATS)) or 0) if added >= BULK else None
            if cached is not None and added >= cached:
                with bulk_load(session, STATS):
                    _complete(session, staged)
            else:
                _complete(session, staged)
            daily.add(session, window_days, only=staged if cached != 0 else None)  # a first build sums it all
            touches.add_messages(session, staged, window_days)
        return added


def _in_id_order(session: Session, query: Any) -> Any:
    """SQLite: staged rows stored in message-id order, so that walking them by id (every GROUP BY below) reads
    the table in order instead of jumping around it."""
    return query.order_by(Message.id) if is_sqlite(session) else query


def _complete(session: Session, staged: Any) -> None:
    """message_stats rows for the staged messages in one pass over them: flags from all their events (grouped
    while walking the staged rows, probing events by message id), first responses of all time."""
    flags = flag_values(session, joined=True)
    firsts = {kind: _earliest(staged, kind) for kind in FIRSTS}
    source = staged.outerjoin(Event, and_(Event.message_id == staged.c.message_id, Event.type.in_(FLAG_TYPES)))
    for earliest in firsts.values():
        source = source.outerjoin(earliest, earliest.c.message_id == staged.c.message_id)
    values = [flags[name] for name in FLAGS]
    values[FLAGS.index("bounced")] = greatest(session)(values[FLAGS.index("bounced")], func.max(staged.c.failed))
    rows = (select(staged.c.message_id, *(staged.c[name] for name in LEDGER_COLUMNS), *values,
                   *(func.min(earliest.c.at) for earliest in firsts.values()))
            .select_from(source).group_by(*_staged_key(session, staged)))
    session.execute(insert(MessageStat).from_select(
        ["message_id", *LEDGER_COLUMNS, *FLAGS, *FIRSTS.values()], rows))


def _staged_key(session: Session, staged: Any) -> list[Any]:
    """What the one pass groups by: the id (SQLite takes the other staged columns from the row of the group), on
    PostgreSQL with every staged column (the id is unique, but not declared the staged table's primary key)."""
    if is_sqlite(session):
        return [staged.c.message_id]
    return [staged.c.message_id, *(staged.c[name] for name in LEDGER_COLUMNS)]


def _earliest(staged: Any, kind: str) -> Any:
    """Per staged message: its contact's earliest response of this kind at or after the send (STOP: SMS only)."""
    table, conditions = responses(kind)
    only_sms = [staged.c.channel == "sms"] if kind == "stop" else []
    return (select(staged.c.message_id.label("message_id"), func.min(table.occurred_at).label("at"))
            .join(table, and_(table.contact_id == staged.c.contact_id, table.occurred_at >= staged.c.sent_at))
            .where(*only_sms, *conditions).group_by(staged.c.message_id).subquery(f"first_{kind}"))

