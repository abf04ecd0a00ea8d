"""The funnel of the send ledger per campaign, variant and channel, with every rate's denominator stated.

Counts are messages (one per recipient and rotation): ledger states from `messages`; engagement (messages with at
least one such event in the timeline) and responses — a conversion, a lead form or an SMS STOP from the contact
within the attribution window after the message — from the per-message cache kept by reports.caches.engagement.
Periods made of whole UTC days (every dashboard and CLI period) are answered from daily sums (ledger counts per
day planned, the cache's sums per day sent); any other period, or a window the sums were not built for, from the
rows themselves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.ledger import MessageStatus
from core.models import Message, MessageStat
from reports.attribution import Period
from reports.caches import columns as cache_columns
from reports.caches import daily, ledger_days
from reports.caches.engagement import ensure_fresh, writer_lock
from reports.sql import bound, day_bounds

Level = Literal["campaign", "variant", "channel"]
_LEDGER_KEYS = {"campaign": Message.campaign_id, "variant": Message.variant_id, "channel": Message.channel}
Source = Callable[[Session, Sequence[Level], "int | None", "Period | None", float],
                  dict[tuple[Any, ...], dict[str, int]]]
_STAT_KEYS = {"campaign": MessageStat.campaign_id, "variant": MessageStat.variant_id, "channel": MessageStat.channel}


@dataclass(frozen=True)
class Rate:
    """A rate with what it divides: `numerator / denominator` are funnel step names."""

    name: str
    numerator: str
    denominator: str
    value: float | None

    @property
    def label(self) -> str:
        return f"{self.numerator} / {self.denominator}"


RATE_DEFINITIONS: tuple[tuple[str, str, str], ...] = (
    ("delivery rate", "delivered", "sent"),
    ("bounce rate", "bounced", "sent"),
    ("open rate (human)", "opened", "email_delivered"),
    ("click rate", "clicked", "delivered"),
    ("click-to-open rate", "clicked", "opened"),
    ("unsubscribe rate", "unsubscribed", "delivered"),
    ("complaint rate", "complained", "email_delivered"),
    ("lead rate", "leads", "sent"),
    ("conversion rate", "converted", "sent"),
)


@dataclass
class Funnel:
    """Message counts at each step; `rates()` divides them with stated denominators."""

    audience: int = 0
    excluded: int = 0
    held_out: int = 0
    planned: int = 0
    sent: int = 0
    delivered: int = 0
    email_delivered: int = 0
    opened: int = 0
    machine_opened: int = 0
    clicked: int = 0
    unsubscribed: int = 0
    bounced: int = 0
    complained: int = 0
    leads: int = 0
    converted: int = 0
    cost: Decimal = field(default=Decimal(0))

    STEPS = ("planned", "sent", "delivered", "opened", "clicked", "converted")

    def add(self, other: Funnel) -> None:
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    def rates(self) -> list[Rate]:
        result = []
        for name, numerator, denominator in RATE_DEFINITIONS:
            below = getattr(self, denominator)
            result.append(Rate(name, numerator, denominator, getattr(self, numerator) / below if below else None))
        return result

    def as_dict(self) -> dict[str, Any]:
        counts = {item.name: getattr(self, item.name) for item in fields(self) if item.name != "cost"}
        return {**counts, "rates": {rate.name: {"value": rate.value, "of": rate.label} for rate in self.rates()}}


def funnels(
    session: Session, *, by: Sequence[Level] = ("campaign",), campaign_id: int | None = None,
    period: Period | None = None, window_days: float = 30.0, daily_sums: bool = True,
) -> dict[tuple[Hashable, ...], Funnel]:
    """Funnels keyed by the values of `by` (campaign id, variant id, channel), e.g. {(12, 'email'): Funnel}.
    `daily_sums=False` reads the ledger and message_stats rows themselves (same figures, slower)."""
    summed = ensure_fresh(session, window_days) and daily_sums
    days = day_bounds(period.since, period.until) if period is not None else None
    sources: tuple[Source, Source] = (_ledger_counts, _stats_counts)
    if summed and (period is None or days is not None):
        sources = (_ledger_days, _send_days)
    grouped: dict[tuple[Hashable, ...], dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for source in sources:
        for (*key, channel), counts in source(session, by, campaign_id, period, window_days).items():
            bucket = grouped[tuple(key)][str(channel)]
            for step, value in counts.items():
                bucket[step] = bucket.get(step, 0) + int(value or 0)
    return {key: _combine(per_channel) for key, per_channel in grouped.items()}


def _combine(per_channel: dict[str, dict[str, int]]) -> Funnel:
    funnel = Funnel()
    for channel, counts in per_channel.items():
        part = Funnel()
        for name, value in counts.items():
            if name != "returned":
                setattr(part, name, value)
        if channel == "mail":  # letters have no delivery receipt: delivered = posted and not returned
            part.delivered += part.sent - counts.get("returned", 0)
            part.bounced += counts.get("returned", 0)
        if channel == "email":
            part.email_delivered = part.delivered
        funnel.add(part)
    return funnel


def _ledger_counts(session: Session, by: Sequence[Level], campaign_id: int | None, period: Period | None,
                   _window: float) -> dict[tuple[Any, ...], dict[str, int]]:
    keys = [_LEDGER_KEYS[level] for level in by]
    scope: list[Any] = [Message.campaign_id == campaign_id] if campaign_id is not None else []
    moment = func.coalesce(Message.sent_at, Message.created_at)
    if period is not None and period.since is not None:
        scope.append(moment >= bound(period.since))
    if period is not None and period.until is not None:
        scope.append(moment < bound(period.until))
    # Grouped by status only (not channel): an index-only scan of (campaign_id, status) on PostgreSQL. These
    # counts go to a channel-less bucket; what depends on the channel comes from the per-message cache.
    counts: dict[tuple[Any, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for *key, status, count in session.execute(
            select(*keys, Message.status, func.count()).where(*scope).group_by(*keys, Message.status)):
        bucket = counts[(*key, "")]
        bucket["audience"] += int(count)
        if status in (MessageStatus.EXCLUDED, MessageStatus.HELD_OUT):
            bucket[status] += int(count)
        else:
            bucket["planned"] += int(count)
    return counts


def _ledger_days(session: Session, by: Sequence[Level], campaign_id: int | None, period: Period | None,
                 window: float) -> dict[tuple[Any, ...], dict[str, int]]:
    """Ledger counts from report_ledger_days, counted again first for campaigns whose ledger moved."""
    stale = ledger_days.stale(session, campaign_id)
    if stale:
        if not writer_lock(session):  # another session is writing the caches: read the ledger itself
            return _ledger_counts(session, by, campaign_id, period, window)
        ledger_days.recount(session, stale)
    days = day_bounds(period.since, period.until) if period is not None else None
    return ledger_days.counts(session, by, campaign_id, days)


def _send_days(session: Session, by: Sequence[Level], campaign_id: int | None, period: Period | None,
               _window: float) -> dict[tuple[Any, ...], dict[str, int]]:
    """Engagement and responses from the cache's daily sums (built for this window)."""
    days = day_bounds(period.since, period.until) if period is not None else None
    flags = ("delivered", "opened", "machine_opened", "clicked", "bounced", "complained", "returned")
    names = ("messages", *flags, "unsubscribed", "stopped", "converted", "leads")
    result = {}
    for key, sums in daily.totals(session, [*by, "channel"], names, campaign_id=campaign_id, days=days).items():
        result[key] = {"sent": sums["messages"], **{name: sums[name] for name in flags},
                       "unsubscribed": sums["unsubscribed"] + sums["stopped"], "converted": sums["converted"],
                       "leads": sums["leads"]}
    return result


def _stats_counts(session: Session, by: Sequence[Level], campaign_id: int | None, period: Period | None,
                  window_days: float) -> dict[tuple[Any, ...], dict[str, int]]:
    """Engagement and responses from the per-message cache: sums of 0/1 flags, responses within the window."""
    keys = [_STAT_KEYS[level] for level in by]
    stat = MessageStat

    def within(column: Any) -> Any:
        return func.sum(cache_columns.within(session, column, stat.sent_at, stat.bounced, window_days))

    columns = {"sent": func.count(), **{name: func.sum(getattr(stat, name)) for name in (
        "delivered", "opened", "machine_opened", "clicked", "bounced", "complained", "returned")}}
    columns["unsubscribed"] = func.sum(stat.unsubscribed) + within(stat.first_stop_at)
    columns["converted"] = within(stat.first_conversion_at)
    columns["leads"] = within(stat.first_lead_at)
    scope: list[Any] = [stat.campaign_id == campaign_id] if campaign_id is not None else []
    if period is not None and period.since is not None:
        scope.append(stat.sent_at >= bound(period.since))
    if period is not None and period.until is not None:
        scope.append(stat.sent_at < bound(period.until))
    query = select(*keys, stat.channel, *columns.values()).where(*scope).group_by(*keys, stat.channel)
    return {tuple(row[:len(keys) + 1]): dict(zip(columns, row[len(keys) + 1:], strict=True))
            for row in session.execute(query)}


def collapse(detailed: dict[tuple[Hashable, ...], Funnel], *positions: int) -> dict[tuple[Hashable, ...], Funnel]:
    """Funnels summed onto some key positions (e.g. (variant, channel) → by variant: `collapse(f, 0)`)."""
    merged: dict[tuple[Hashable, ...], Funnel] = {}
    for key, funnel in detailed.items():
        target = merged.setdefault(tuple(key[position] for position in positions), Funnel())
        target.add(funnel)
    return merged
