"""Revenue attribution over a lookback window: last-touch, first-touch, linear and time-decay, in SQL.

A touch is a message sent to the converting contact (and not bounced or failed) within `window_days` before the
conversion. Each conversion's amount is shared between its touches by the model; conversions without a touch
stay unattributed. Results are per campaign, channel or segment, in the report currency.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Float, and_, cast, func, select
from sqlalchemy.orm import Session

from core.dialect import is_sqlite
from core.models import Campaign, Conversion, MessageStat
from core.models.reports import Touch
from reports.caches.engagement import ensure_fresh
from reports.money import Converter, aware, converted_sums, period_start
from reports.sql import bound, decimal_of, epoch, exact_sum, to_decimal

Model = Literal["last-touch", "first-touch", "linear", "time-decay"]
MODELS: tuple[Model, ...] = ("last-touch", "first-touch", "linear", "time-decay")
Dimension = Literal["campaign", "channel", "segment"]
DIMENSIONS: tuple[Dimension, ...] = ("campaign", "channel", "segment")


@dataclass(frozen=True)
class Attribution:
    """How revenue is credited: the model, the lookback window and (time-decay) the half-life, in days."""

    model: Model = "last-touch"
    window_days: float = 30.0
    half_life_days: float = 7.0

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"unknown attribution model {self.model!r} (one of {', '.join(MODELS)})")
        if self.window_days <= 0 or self.half_life_days <= 0:
            raise ValueError("the lookback window and the half-life must be positive numbers of days")


@dataclass(frozen=True)
class Credit:
    """Revenue and conversions (fractional under linear and time-decay) credited to one key."""

    revenue: Decimal
    conversions: Decimal


@dataclass(frozen=True)
class Period:
    """Conversions considered: occurred_at in [since, until); None leaves a side open."""

    since: datetime | None = None
    until: datetime | None = None


def touches(session: Session, rules: Attribution, period: Period, campaign_id: int | None = None,
            *, cached: bool = True) -> Any:
    """One row per (conversion, touch) with the ranks and weights every model needs.

    Touches come from the touches cache when it was built for this window (`cached=False`: from the per-message
    cache, sent messages with `bounced` for those that never arrived, joined to conversions by contact).
    """
    if ensure_fresh(session, rules.window_days) and cached:
        sent: Any = Touch.__table__
        conditions: list[Any] = [Conversion.contact_id.is_not(None)]
        joined = Conversion.id == sent.c.conversion_id
    else:
        sent = MessageStat.__table__
        gap = epoch(session, Conversion.occurred_at) - epoch(session, sent.c.sent_at)
        conditions = [Conversion.contact_id.is_not(None), sent.c.bounced == 0,
                      sent.c.sent_at <= Conversion.occurred_at, gap <= rules.window_days * 86400.0]
        joined = sent.c.contact_id == Conversion.contact_id
    if period.since is not None:
        conditions.append(Conversion.occurred_at >= bound(period.since))
    if period.until is not None:
        conditions.append(Conversion.occurred_at < bound(period.until))
    if campaign_id is not None:  # the campaign's contacts only (their other touches still share the credit)
        conditions.append(Conversion.contact_id.in_(
            select(MessageStat.contact_id).where(MessageStat.campaign_id == campaign_id).scalar_subquery()))
    per_conversion: dict[str, Any] = {"partition_by": Conversion.id}
    gap = epoch(session, Conversion.occurred_at) - epoch(session, sent.c.sent_at)
    decay = func.exp(-cast(gap, Float) * (math.log(2) / (rules.half_life_days * 86400.0)))
    return (
        select(
            Conversion.id.label("conversion_id"), Conversion.amount.label("amount"),
            Conversion.currency.label("currency"), Conversion.occurred_at.label("occurred_at"),
            sent.c.campaign_id.label("campaign_id"), sent.c.channel.label("channel"),
            Campaign.segment_id.label("segment_id"),
            func.row_number().over(**per_conversion, order_by=(sent.c.sent_at.desc(), sent.c.message_id.desc()))
            .label("last_rank"),
            func.row_number().over(**per_conversion, order_by=(sent.c.sent_at, sent.c.message_id))
            .label("first_rank"),
            func.count().over(**per_conversion).label("touches"),
            decay.label("decay"),
        )
        .select_from(Conversion)
        .join(sent, joined)
        .join(Campaign, Campaign.id == sent.c.campaign_id)
        .where(and_(*conditions))
        .subquery("touches")
    )


def _key(rows: Any, dimension: Dimension) -> Any:
    return {"campaign": rows.c.campaign_id, "channel": rows.c.channel, "segment": rows.c.segment_id}[dimension]


def attribute(
    session: Session, converter: Converter, rules: Attribution, *, by: Dimension = "campaign",
    period: Period | None = None, campaign_id: int | None = None,
) -> dict[Hashable, Credit]:
    """Revenue and conversions credited per campaign id, channel or segment id under `rules`."""
    return attribute_all(session, converter, rules, by=by, period=period, campaign_id=campaign_id)[rules.model]


def attribute_all(
    session: Session, converter: Converter, rules: Attribution, *, by: Dimension = "campaign",
    period: Period | None = None, campaign_id: int | None = None, cached: bool = True,
) -> dict[Model, dict[Hashable, Credit]]:
    """The credits of all four models (same window and half-life), from one pass over the touches (`cached`:
    from the touches cache when it fits the window; False: joining conversions to message_stats).

    One GROUP BY (key, currency, rate period, number of touches) gives, per group: the amounts whose last / first
    touch this is (exact sums), all amounts (a linear share is amount / touches, divided once per group, exactly),
    and the time-decay shares (amount × normalised weight, floats rounded at the end).
    """
    if by not in DIMENSIONS:
        raise ValueError(f"cannot attribute by {by!r} (one of {', '.join(DIMENSIONS)})")
    rows = touches(session, rules, period or Period(), campaign_id, cached=cached)
    weighted = select(*rows.c, (rows.c.decay / func.sum(rows.c.decay).over(partition_by=rows.c.conversion_id))
                      .label("weight")).subquery("weighted")
    key = _key(weighted, by)
    started = period_start(converter, weighted.c.currency, weighted.c.occurred_at)
    last, first = weighted.c.last_rank == 1, weighted.c.first_rank == 1
    amount = weighted.c.amount
    query = (select(key, func.upper(weighted.c.currency), started, func.min(weighted.c.occurred_at),
                    weighted.c.touches, exact_sum(session, amount, 2).filter(last), func.count().filter(last),
                    exact_sum(session, amount, 2).filter(first), func.count().filter(first),
                    exact_sum(session, amount, 2), func.count(),
                    func.sum(cast(amount, Float) * weighted.c.weight), func.sum(weighted.c.weight))
             .group_by(key, func.upper(weighted.c.currency), started, weighted.c.touches))
    totals: dict[Model, dict[Hashable, list[Decimal]]] = {
        model: defaultdict(lambda: [Decimal(0), Decimal(0)]) for model in MODELS}
    for row in session.execute(query):
        value, currency, started_at, first_at, touch_count = row[:5]
        rate = converter.rate(str(currency), aware(started_at), at=aware(first_at))
        shares = {
            "last-touch": (to_decimal(session, row[5], 2), Decimal(row[6])),
            "first-touch": (to_decimal(session, row[7], 2), Decimal(row[8])),
            "linear": (to_decimal(session, row[9], 2) / int(touch_count), Decimal(row[10]) / int(touch_count)),
            "time-decay": (decimal_of(row[11]), decimal_of(row[12])),
        }
        for model, (revenue, credit) in shares.items():
            total = totals[model][value]  # type: ignore[index]
            total[0] += revenue * rate
            total[1] += credit
    return {model: {value: Credit(money, credit) for value, (money, credit) in per_key.items() if credit}
            for model, per_key in totals.items()}


def revenue_total(session: Session, converter: Converter, period: Period | None = None) -> Credit:
    """All conversions of the period, attributed or not, in the report currency."""
    period = period or Period()
    conditions = []
    if period.since is not None:
        conditions.append(Conversion.occurred_at >= bound(period.since))
    if period.until is not None:
        conditions.append(Conversion.occurred_at < bound(period.until))
    sums = converted_sums(session, converter, keys=[], amount=Conversion.amount,
                          currency=Conversion.currency, at=Conversion.occurred_at, select_from=Conversion,
                          where=conditions)
    count = session.scalar(select(func.count()).select_from(Conversion).where(*conditions)) or 0
    return Credit(sum(sums.values(), Decimal(0)), Decimal(count))


def sqlite_has_math(session: Session) -> bool:
    """Whether exp() exists in this SQLite (needed by time-decay); PostgreSQL always has it."""
    if not is_sqlite(session):
        return True
    try:
        session.execute(select(func.exp(0))).scalar()
    except Exception:  # noqa: BLE001 - an OperationalError means the function is missing
        return False
    return True
