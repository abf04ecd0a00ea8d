"""The overview over a date range: spend, revenue, ROI, sends, and the same figures day by day."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Conversion, Cost, MessageStat
from reports.attribution import Attribution, Period, attribute
from reports.caches import daily
from reports.caches.engagement import ensure_fresh
from reports.costs import foreign_campaigns, message_sums
from reports.money import Converter, converted_sums
from reports.sql import bound, day_bounds, exact_sum, to_decimal, utc_day

TREND_COLUMNS = ("sent", "spend", "conversions", "revenue")


def day_range(start: date, end: date) -> Period:
    """[start 00:00 UTC, end + 1 day 00:00 UTC): both days included."""
    return Period(datetime.combine(start, time(), tzinfo=UTC),
                  datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC))


@dataclass(frozen=True)
class Overview:
    """Headline figures of a period (money in the report currency) and the same per UTC day."""

    period: Period
    spend: Decimal  # messages sent in the period + fixed costs incurred in it
    revenue: Decimal  # every conversion in the period, attributed or not
    attributed_revenue: Decimal  # the part credited to campaigns by the attribution model
    conversions: int
    messages_sent: int
    campaigns_active: int
    trends: list[dict[str, Any]] = field(default_factory=list)

    @property
    def roi(self) -> Decimal | None:
        """(attributed revenue − spend) / spend."""
        return (self.attributed_revenue - self.spend) / self.spend if self.spend else None


def _days() -> defaultdict[str, dict[str, Any]]:
    return defaultdict(lambda: {"sent": 0, "spend": Decimal(0), "conversions": 0, "revenue": Decimal(0)})


def _sends(session: Session, converter: Converter, period: Period,
           days: defaultdict[str, dict[str, Any]]) -> set[int]:
    """Messages sent and their cost per day (the cache's daily sums for whole days; foreign currencies from its
    rows); returns the campaigns that sent anything."""
    ensure_fresh(session)
    day = utc_day(session, MessageStat.sent_at)
    sent_in = [MessageStat.sent_at >= bound(period.since), MessageStat.sent_at < bound(period.until)]
    foreign = foreign_campaigns(session, converter)
    whole_days = day_bounds(period.since, period.until)
    if whole_days is not None:
        sums = daily.totals(session, ("day", "campaign"), ("messages", "cost_units"), days=whole_days)
        rows = [(sent_on, int(campaign_id), value["messages"],  # type: ignore[call-overload]
                 Decimal(value["cost_units"]).scaleb(-4) if campaign_id not in foreign else Decimal(0))
                for (sent_on, campaign_id), value in sums.items()]
    else:
        local = MessageStat.campaign_id.not_in(foreign)
        query = (select(day, MessageStat.campaign_id, func.count(),
                        exact_sum(session, MessageStat.cost, 4).filter(local))
                 .where(*sent_in).group_by(day, MessageStat.campaign_id))
        rows = [(sent_on, campaign_id, count, to_decimal(session, cost, 4))
                for sent_on, campaign_id, count, cost in session.execute(query)]
    active: set[int] = set()
    for sent_on, campaign_id, count, cost in rows:
        days[str(sent_on)]["sent"] += int(count)
        days[str(sent_on)]["spend"] += cost
        active.add(int(campaign_id))
    if foreign:
        for (sent_on,), value in message_sums(session, converter, keys=[day],
                                              where=[*sent_in, MessageStat.campaign_id.in_(foreign)]).items():
            days[str(sent_on)]["spend"] += value
    return active


def _fixed_costs(session: Session, converter: Converter, period: Period,
                 days: defaultdict[str, dict[str, Any]]) -> None:
    day = utc_day(session, Cost.incurred_at)
    for (incurred_on,), value in converted_sums(
            session, converter, keys=[day], amount=Cost.amount, currency=Cost.currency, at=Cost.incurred_at,
            select_from=Cost, where=[Cost.incurred_at >= bound(period.since),
                                     Cost.incurred_at < bound(period.until)]).items():
        days[str(incurred_on)]["spend"] += value


def _conversions(session: Session, converter: Converter, period: Period,
                 days: defaultdict[str, dict[str, Any]]) -> None:
    in_period = [Conversion.occurred_at >= bound(period.since), Conversion.occurred_at < bound(period.until)]
    day = utc_day(session, Conversion.occurred_at)
    for (occurred_on,), value in converted_sums(session, converter, keys=[day], amount=Conversion.amount,
                                                currency=Conversion.currency, at=Conversion.occurred_at,
                                                select_from=Conversion, where=in_period).items():
        days[str(occurred_on)]["revenue"] += value
    for occurred_on, count in session.execute(select(day, func.count()).where(*in_period).group_by(day)):
        days[str(occurred_on)]["conversions"] = int(count)


def _dense(days: defaultdict[str, dict[str, Any]], period: Period) -> list[dict[str, Any]]:
    """Every day of the period (quiet ones at zero) once anything happened, oldest first."""
    if days and period.since is not None and period.until is not None:
        moment = period.since.date()
        while moment < period.until.date():
            days[moment.isoformat()]  # noqa: B018 - the defaultdict creates the zero row
            moment += timedelta(days=1)
    return [{"day": day, **values} for day, values in sorted(days.items())]


def overview(session: Session, converter: Converter, rules: Attribution, period: Period) -> Overview:
    """Headline figures and daily trends of a bounded period."""
    if period.since is None or period.until is None:
        raise ValueError("the overview needs a period with a start and an end")
    days = _days()
    active = _sends(session, converter, period, days)
    _fixed_costs(session, converter, period, days)
    _conversions(session, converter, period, days)
    credits = attribute(session, converter, rules, by="campaign", period=period)
    rows = _dense(days, period)
    return Overview(
        period, spend=sum((row["spend"] for row in rows), Decimal(0)),
        revenue=sum((row["revenue"] for row in rows), Decimal(0)),
        attributed_revenue=sum((credit.revenue for credit in credits.values()), Decimal(0)),
        conversions=sum(row["conversions"] for row in rows), messages_sent=sum(row["sent"] for row in rows),
        campaigns_active=len(active), trends=rows)


def daily_trends(session: Session, converter: Converter, period: Period) -> list[dict[str, Any]]:
    """Per UTC day of the period: messages sent, spend, conversions and revenue (report currency)."""
    days = _days()
    _sends(session, converter, period, days)
    _fixed_costs(session, converter, period, days)
    _conversions(session, converter, period, days)
    return _dense(days, period)
