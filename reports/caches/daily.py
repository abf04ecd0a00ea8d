"""Daily sums of the per-message cache (`report_send_days`): changed with every change of message_stats, read by
funnels, costs, trends and timelines instead of a scan of the ledger or of message_stats.

A row holds, per campaign / variant / channel / provider / UTC day sent / UTC day planned: messages sent, their
cost in exact 1/10,000 units of the campaign currency, the sums of the response flags, and how many of them (not
bounced) led their contact to convert, submit a lead form or reply STOP within the attribution window.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Table, delete, func, select, true, update
from sqlalchemy.orm import Session

from core.dialect import dialect_insert
from core.models.reports import MessageStat, SendDay
from reports.caches.columns import DAY_KEYS, FLAGS, WINDOWED, day_keys, within
from reports.sql import units

STATS = MessageStat.__table__
DAYS = SendDay.__table__
SUMS = ("messages", "costed", "cost_units", *FLAGS, *WINDOWED)
KEYS = {"campaign": DAYS.c.campaign_id, "variant": DAYS.c.variant_key, "channel": DAYS.c.channel,
        "provider": DAYS.c.provider_key, "day": DAYS.c.sent_on}


def _sums(session: Session, window_days: float) -> list[Any]:
    """The aggregates of one report_send_days row over message_stats rows."""
    stats = STATS.c
    return [func.count().label("messages"), func.count(stats.cost).label("costed"),
            func.coalesce(func.sum(units(session, stats.cost, 4)), 0).label("cost_units"),
            *(func.sum(stats[name]).label(name) for name in FLAGS),
            *(func.sum(within(session, stats[first], stats.sent_at, stats.bounced, window_days)).label(name)
              for name, first in WINDOWED.items())]


def add(session: Session, window_days: float, *, only: Table | None = None,
        campaigns: Sequence[int] | None = None) -> None:
    """Add message_stats rows (those in the staged table `only`, or of `campaigns`, or all) to the daily sums."""
    keys = day_keys(session, STATS)
    source: Any = STATS
    conditions: list[Any] = [true()]  # SQLite needs a WHERE before an upsert's ON CONFLICT
    if only is not None:
        source = STATS.join(only, only.c.message_id == STATS.c.message_id)
    if campaigns is not None:
        conditions.append(STATS.c.campaign_id.in_(campaigns))
    query = (select(*(value.label(name) for name, value in keys.items()), *_sums(session, window_days))
             .select_from(source).where(*conditions).group_by(*keys.values()))
    statement = dialect_insert(session)(SendDay).from_select([*DAY_KEYS, *SUMS], query)
    statement = statement.on_conflict_do_update(
        index_elements=list(DAY_KEYS), set_={name: DAYS.c[name] + statement.excluded[name] for name in SUMS})
    session.execute(statement)


def subtract(session: Session, window_days: float, rows: Any) -> None:
    """Take message_stats rows (a condition on them) out of the daily sums, before they are deleted."""
    keys = day_keys(session, STATS)
    gone = (select(*(value.label(name) for name, value in keys.items()), *_sums(session, window_days))
            .where(rows).group_by(*keys.values()).subquery("gone"))
    session.execute(
        update(SendDay).where(*(DAYS.c[name] == gone.c[name] for name in DAY_KEYS))
        .values({name: DAYS.c[name] - gone.c[name] for name in SUMS}),
        execution_options={"synchronize_session": False})
    session.execute(delete(SendDay).where(SendDay.messages == 0))


def rebuild(session: Session, window_days: float, campaigns: Sequence[int] | None = None) -> None:
    """Compute the daily sums again from message_stats (all, or some campaigns')."""
    wipe = delete(SendDay)
    if campaigns is not None:
        wipe = wipe.where(SendDay.campaign_id.in_(campaigns))
    session.execute(wipe)
    add(session, window_days, campaigns=campaigns)


def apply_diffs(session: Session, diffs: Table, window_days: float) -> None:
    """Move the sums by what changed in message_stats: `diffs` has each changed row's key, its send time and its
    old_ / new_ flags and first response times."""
    columns = diffs.c

    def windowed(prefix: str, first: str) -> Any:
        return within(session, columns[prefix + first], columns.sent_at, columns[prefix + "bounced"], window_days)

    delta = (select(*(columns[name] for name in DAY_KEYS),
                    *(func.sum(columns["new_" + name] - columns["old_" + name]).label(name) for name in FLAGS),
                    *(func.sum(windowed("new_", first) - windowed("old_", first)).label(name)
                      for name, first in WINDOWED.items()))
             .group_by(*(columns[name] for name in DAY_KEYS)).subquery("delta"))
    session.execute(
        update(SendDay).where(*(DAYS.c[name] == delta.c[name] for name in DAY_KEYS))
        .values({name: DAYS.c[name] + delta.c[name] for name in (*FLAGS, *WINDOWED)}),
        execution_options={"synchronize_session": False})


def totals(session: Session, by: Sequence[str], names: Sequence[str], *, campaign_id: int | None = None,
           days: tuple[date | None, date | None] | None = None, campaigns: Sequence[int] | None = None,
           other_than: Sequence[int] = ()) -> dict[tuple[Hashable, ...], dict[str, int]]:
    """Sums of `names` per `by` (campaign, variant, channel, provider, day: the day sent), over the messages sent
    in [days) of campaign_id / of `campaigns` / not of `other_than`. Keys as the ledger has them: variant and
    provider None when there is none, a day as 'YYYY-MM-DD'."""
    keys = [KEYS[name] for name in by]
    conditions: list[Any] = []
    if campaign_id is not None:
        conditions.append(DAYS.c.campaign_id == campaign_id)
    if campaigns is not None:
        conditions.append(DAYS.c.campaign_id.in_(campaigns))
    if other_than:
        conditions.append(DAYS.c.campaign_id.not_in(other_than))
    conditions += sent_within(days)
    query = (select(*keys, *(func.sum(DAYS.c[name]).label(name) for name in names)).where(*conditions)
             .group_by(*keys))
    result: dict[tuple[Hashable, ...], dict[str, int]] = {}
    for row in session.execute(query):
        key = tuple(_ledger_value(name, value) for name, value in zip(by, row[:len(by)], strict=True))
        result[key] = {name: int(value or 0) for name, value in zip(names, row[len(by):], strict=True)}
    return result


def sent_within(days: tuple[date | None, date | None] | None, column: Any = None) -> list[Any]:
    """Conditions on a day column (default: the day sent) for [first day, day after the last)."""
    column = DAYS.c.sent_on if column is None else column
    if days is None:
        return []
    first, after = days
    return [*([column >= first] if first is not None else []), *([column < after] if after is not None else [])]


def _ledger_value(name: str, value: Any) -> Hashable:
    if name == "variant":
        return int(value) if value else None
    if name == "provider":
        return str(value) if value else None
    if name == "day":
        return value.isoformat() if isinstance(value, date) else str(value)
    return value
