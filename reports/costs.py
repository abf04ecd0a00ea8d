"""What campaigns cost in the report currency: per-message costs plus fixed costs, and budgets.

A message's cost is what the ledger recorded when it went out, kept in the per-message cache: sums come from the
cache's daily sums (exact integers of 1/10,000) for whole-day periods, from its rows otherwise, and from its rows
for campaigns in a foreign currency (each converted at the rate of its send day's period).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Campaign, Contact, Cost, Message, MessageStat
from reports.attribution import Period
from reports.caches import daily
from reports.caches.engagement import ensure_fresh
from reports.money import Converter, converted_sums
from reports.sql import bound, day_bounds, exact_sum, to_decimal

_MESSAGE_KEYS = {"campaign": MessageStat.campaign_id, "channel": MessageStat.channel,
                 "variant": MessageStat.variant_id, "provider": MessageStat.provider}


@dataclass(frozen=True)
class CostLine:
    """Spend of one channel / provider / country: messages, parts (SMS segments, letter pages), cost, unit costs."""

    channel: str
    provider: str | None
    country: str | None
    messages: int
    parts: int
    cost: Decimal

    @property
    def per_message(self) -> Decimal | None:
        return self.cost / self.messages if self.messages else None

    @property
    def per_part(self) -> Decimal | None:
        return self.cost / self.parts if self.parts else None


def _message_scope(campaign_id: int | None, period: Period | None) -> list[Any]:
    """Sent messages with a cost, of a campaign, sent in a period."""
    conditions: list[Any] = [MessageStat.cost.is_not(None)]
    if campaign_id is not None:
        conditions.append(MessageStat.campaign_id == campaign_id)
    if period is not None and period.since is not None:
        conditions.append(MessageStat.sent_at >= bound(period.since))
    if period is not None and period.until is not None:
        conditions.append(MessageStat.sent_at < bound(period.until))
    return conditions


def foreign_campaigns(session: Session, converter: Converter) -> list[int]:
    """Campaigns whose currency is not the report currency (their costs need exchange rates)."""
    return list(session.scalars(select(Campaign.id).where(
        func.upper(Campaign.currency) != converter.report_currency).order_by(Campaign.id)))


def message_sums(session: Session, converter: Converter, *, keys: list[Any], where: list[Any],
                 joins: tuple[Any, ...] = ()) -> dict[tuple[Hashable, ...], Decimal]:
    """SUM(cost) of cached sent messages per `keys` (message_stats columns) in the report currency.

    A campaign has one currency, so messages of report-currency campaigns are summed by one plain scan (no join,
    no rate lookup); only foreign-currency campaigns go through the exchange-rate periods.
    """
    foreign = foreign_campaigns(session, converter)
    source: Any = MessageStat.__table__
    for table, condition in joins:
        source = source.outerjoin(table, condition)
    local = (select(*keys, exact_sum(session, MessageStat.cost, 4)).select_from(source)
             .where(*where, MessageStat.campaign_id.not_in(foreign)).group_by(*keys))
    totals: dict[tuple[Hashable, ...], Decimal] = defaultdict(Decimal)
    for row in session.execute(local):
        totals[tuple(row[:-1])] += to_decimal(session, row[-1], 4)
    for key, value in _foreign_sums(session, converter, foreign, keys, where, source).items():
        totals[key] += value
    return dict(totals)


def _foreign_sums(session: Session, converter: Converter, foreign: list[int], keys: list[Any], where: list[Any],
                  source: Any) -> dict[tuple[Hashable, ...], Decimal]:
    """Costs of foreign-currency campaigns, each message at the rate in force when it was sent."""
    if not foreign:
        return {}
    return converted_sums(
        session, converter, keys=keys, amount=MessageStat.cost, currency=Campaign.currency, at=MessageStat.sent_at,
        select_from=source.join(Campaign.__table__, Campaign.id == MessageStat.campaign_id),
        where=[*where, MessageStat.campaign_id.in_(foreign)], scale=4)


def message_costs(
    session: Session, converter: Converter, *, by: tuple[str, ...] = ("campaign",), campaign_id: int | None = None,
    period: Period | None = None,
) -> dict[tuple[Hashable, ...], Decimal]:
    """Per-message costs (in each campaign's currency) summed per `by` and converted to the report currency."""
    ensure_fresh(session)
    days = day_bounds(period.since, period.until) if period is not None else None
    if period is not None and days is None:
        return message_sums(session, converter, keys=[_MESSAGE_KEYS[name] for name in by],
                            where=_message_scope(campaign_id, period))
    foreign = foreign_campaigns(session, converter)
    totals: dict[tuple[Hashable, ...], Decimal] = {
        key: Decimal(sums["cost_units"]).scaleb(-4)
        for key, sums in daily.totals(session, by, ("costed", "cost_units"), campaign_id=campaign_id, days=days,
                                      other_than=foreign).items() if sums["costed"]}
    keys = [_MESSAGE_KEYS[name] for name in by]
    for key, value in _foreign_sums(session, converter, foreign, keys, _message_scope(campaign_id, period),
                                    MessageStat.__table__).items():
        totals[key] = totals.get(key, Decimal(0)) + value
    return totals


def fixed_costs(
    session: Session, converter: Converter, *, by: tuple[str, ...] = ("campaign",), campaign_id: int | None = None,
    period: Period | None = None,
) -> dict[tuple[Hashable, ...], Decimal]:
    """Fixed costs (creative, agency, printing…) per campaign and/or category, in the report currency."""
    keys = [{"campaign": Cost.campaign_id, "category": Cost.category}[name] for name in by]
    conditions: list[Any] = []
    if campaign_id is not None:
        conditions.append(Cost.campaign_id == campaign_id)
    if period is not None and period.since is not None:
        conditions.append(Cost.incurred_at >= bound(period.since))
    if period is not None and period.until is not None:
        conditions.append(Cost.incurred_at < bound(period.until))
    return converted_sums(session, converter, keys=keys, amount=Cost.amount, currency=Cost.currency,
                          at=Cost.incurred_at, select_from=Cost, where=conditions)


def total_costs(session: Session, converter: Converter, *, campaign_id: int | None = None,
                period: Period | None = None) -> dict[Hashable, tuple[Decimal, Decimal]]:
    """campaign id -> (message costs, fixed costs) in the report currency."""
    variable = message_costs(session, converter, campaign_id=campaign_id, period=period)
    fixed = fixed_costs(session, converter, campaign_id=campaign_id, period=period)
    ids = {key[0] for key in variable} | {key[0] for key in fixed}
    return {key: (variable.get((key,), Decimal(0)), fixed.get((key,), Decimal(0))) for key in ids}


def cost_breakdown(session: Session, converter: Converter, *, campaign_id: int | None = None,
                   period: Period | None = None) -> list[CostLine]:
    """Spend by channel, provider and recipient country, with unit costs per message and per part."""
    ensure_fresh(session)
    scope = _message_scope(campaign_id, period)
    keys = [MessageStat.channel, MessageStat.provider, Contact.country]
    foreign = foreign_campaigns(session, converter)
    local = MessageStat.campaign_id.not_in(foreign)
    volumes = session.execute(select(*keys, func.count(), func.sum(MessageStat.parts),
                                     exact_sum(session, MessageStat.cost, 4).filter(local))
                              .outerjoin(Contact, Contact.id == MessageStat.contact_id).where(*scope)
                              .group_by(*keys)).all()
    costs: dict[tuple[Hashable, ...], Decimal] = {}
    if foreign:
        costs = message_sums(session, converter, keys=keys, where=[*scope, MessageStat.campaign_id.in_(foreign)],
                             joins=((Contact.__table__, Contact.id == MessageStat.contact_id),))
    lines = [CostLine(str(row[0]), row[1], row[2], int(row[3] or 0), int(row[4] or 0),
                      to_decimal(session, row[5], 4) + costs.get(tuple(row[:3]), Decimal(0))) for row in volumes]
    return sorted(lines, key=lambda line: (-line.cost, line.channel, line.provider or "", line.country or ""))


def budgets(session: Session, converter: Converter) -> dict[int, Decimal | None]:
    """campaign id -> budget in the report currency (None: no budget set)."""
    result: dict[int, Decimal | None] = {}
    for campaign_id, budget, currency, started in session.execute(
            select(Campaign.id, Campaign.budget, Campaign.currency, Campaign.started_at)):
        result[campaign_id] = converter.convert(Decimal(budget), currency, started) if budget is not None else None
    return result


def native_spend(session: Session, campaign_id: int) -> Decimal:
    """A campaign's message spend in its own currency (what its budget is checked against while sending)."""
    total = session.scalar(select(exact_sum(session, Message.cost, 4)).where(Message.campaign_id == campaign_id))
    return to_decimal(session, total, 4)


def spend_by_key(costs: dict[tuple[Hashable, ...], Decimal], position: int = 0) -> dict[Hashable, Decimal]:
    """Collapse multi-key costs onto one key position."""
    collapsed: dict[Hashable, Decimal] = defaultdict(Decimal)
    for key, value in costs.items():
        collapsed[key[position]] += value
    return dict(collapsed)
