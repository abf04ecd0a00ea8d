"""Ledger counts for funnels (audience, excluded, held out, planned) without scanning the ledger.

`report_ledger_days` counts a campaign's ledger rows per variant, channel, kind and UTC day planned. Rows only
move between those counts when the plan writes or re-writes the ledger (more rows, quiet-hours exclusions) or the
A/B winner is picked (waiting rows get their variant): so each campaign's counts are checked against its ledger's
totals — rows, excluded, held out, waiting — read from the (campaign_id, status) index alone, and computed again
for the campaigns whose totals moved. A period counts a message on the day it was sent, or planned when not
sent: planned rows are shifted to their send day with the daily sums of the per-message cache.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import case, delete, func, insert, literal, select
from sqlalchemy.orm import Session

from core.ledger import MessageStatus
from core.models import Message
from core.models.reports import LedgerDay, SendDay
from reports.caches.daily import sent_within
from reports.sql import utc_date

LEDGER = LedgerDay.__table__
DAYS = SendDay.__table__
KINDS = (MessageStatus.EXCLUDED, MessageStatus.HELD_OUT, MessageStatus.WAITING)  # others count as "planned"
Totals = tuple[int, int, int, int]  # rows, excluded, held out, waiting
_KEYS = {"campaign": "campaign_id", "variant": "variant_key", "channel": "channel"}


def ledger_totals(session: Session, campaign_id: int | None = None) -> dict[int, Totals]:
    """Per campaign: ledger rows, excluded, held out, waiting (an index-only read of (campaign_id, status))."""
    query = select(Message.campaign_id, func.count(),
                   *(func.count().filter(Message.status == kind) for kind in KINDS)).group_by(Message.campaign_id)
    if campaign_id is not None:
        query = query.where(Message.campaign_id == campaign_id)
    return {int(row[0]): (int(row[1]), int(row[2]), int(row[3]), int(row[4])) for row in session.execute(query)}


def counted_totals(session: Session, campaign_id: int | None = None) -> dict[int, Totals]:
    """The same totals as report_ledger_days holds them."""
    total = func.sum(LEDGER.c.messages)
    query = select(LEDGER.c.campaign_id, total, *(total.filter(LEDGER.c.kind == kind) for kind in KINDS)) \
        .group_by(LEDGER.c.campaign_id)
    if campaign_id is not None:
        query = query.where(LEDGER.c.campaign_id == campaign_id)
    return {int(row[0]): tuple(int(value or 0) for value in row[1:]) for row in session.execute(query)}  # type: ignore[misc]


def stale(session: Session, campaign_id: int | None = None) -> list[int]:
    """Campaigns whose ledger counts no longer match their ledger."""
    current, counted = ledger_totals(session, campaign_id), counted_totals(session, campaign_id)
    return sorted(key for key in {*current, *counted} if current.get(key) != counted.get(key))


def recount(session: Session, campaigns: Sequence[int]) -> None:
    """Count the ledger rows of these campaigns again (one GROUP BY over their rows)."""
    if not campaigns:
        return
    session.execute(delete(LedgerDay).where(LedgerDay.campaign_id.in_(campaigns)))
    kind = case(*((Message.status == name, literal(name)) for name in KINDS), else_=literal("planned"))
    keys = [Message.campaign_id, func.coalesce(Message.variant_id, 0), Message.channel, kind,
            utc_date(session, Message.created_at)]
    session.execute(insert(LedgerDay).from_select(
        ["campaign_id", "variant_key", "channel", "kind", "planned_on", "messages"],
        select(*keys, func.count()).where(Message.campaign_id.in_(campaigns)).group_by(*keys)))


def counts(session: Session, by: Sequence[str], campaign_id: int | None,
           days: tuple[date | None, date | None] | None) -> dict[tuple[Any, ...], dict[str, int]]:
    """audience / excluded / held_out / planned per `by` (campaign, variant, channel), in the funnel's
    channel-less bucket: {(*key, ''): counts}. A period counts rows sent in it, and rows not sent planned in it."""
    if days == (None, None):
        days = None
    keys = [LEDGER.c[_KEYS[level]] for level in by]
    scope: list[Any] = [LEDGER.c.campaign_id == campaign_id] if campaign_id is not None else []
    result: dict[tuple[Any, ...], dict[str, int]] = defaultdict(
        lambda: {"audience": 0, "excluded": 0, "held_out": 0, "planned": 0})
    query = (select(*keys, LEDGER.c.kind, func.sum(LEDGER.c.messages))
             .where(*scope, *sent_within(days, LEDGER.c.planned_on)).group_by(*keys, LEDGER.c.kind))
    for *key, kind, count in session.execute(query):
        bucket = result[(*_keys(by, key), "")]
        bucket["audience"] += int(count)
        bucket[kind if kind in ("excluded", "held_out") else "planned"] += int(count)
    if days is not None:
        _shift_sent(session, by, campaign_id, days, result)
    return {key: value for key, value in result.items() if value["audience"]}


def _shift_sent(session: Session, by: Sequence[str], campaign_id: int | None,
                days: tuple[date | None, date | None], result: dict[tuple[Any, ...], Any]) -> None:
    """Sent messages count on their send day, not their planning day."""
    keys = [DAYS.c[_KEYS[level]] for level in by]
    planned_in = func.sum(DAYS.c.messages).filter(*sent_within(days, DAYS.c.planned_on))
    sent_in = func.sum(DAYS.c.messages).filter(*sent_within(days))
    scope = [DAYS.c.campaign_id == campaign_id] if campaign_id is not None else []
    for *key, before, after in session.execute(select(*keys, planned_in, sent_in).where(*scope).group_by(*keys)):
        moved = int(after or 0) - int(before or 0)
        if moved:
            bucket = result[(*_keys(by, key), "")]
            bucket["planned"] += moved
            bucket["audience"] += moved


def _keys(by: Sequence[str], values: Sequence[Any]) -> tuple[Hashable, ...]:
    return tuple((int(value) if value else None) if level == "variant" else value
                 for level, value in zip(by, values, strict=True))
