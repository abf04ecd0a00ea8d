"""What campaigns cost in the report currency: per-message costs from the ledger plus fixed costs, and budgets."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Campaign, Contact, Cost, Message
from reports.attribution import Period
from reports.money import Converter, converted_sums
from reports.sql import bound, exact_sum, to_decimal

_MESSAGE_KEYS = {"campaign": Message.campaign_id, "channel": Message.channel, "variant": Message.variant_id,
                 "provider": Message.provider}


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


def _moment() -> Any:
    return func.coalesce(Message.sent_at, Message.created_at)


def _message_scope(campaign_id: int | None, period: Period | None) -> list[Any]:
    conditions: list[Any] = [Message.cost.is_not(None)]
    if campaign_id is not None:
        conditions.append(Message.campaign_id == campaign_id)
    if period is not None and period.since is not None:
        conditions.append(_moment() >= bound(period.since))
    if period is not None and period.until is not None:
        conditions.append(_moment() < bound(period.until))
    return conditions


def foreign_campaigns(session: Session, converter: Converter) -> list[int]:
    """Campaigns whose currency is not the report currency (their costs need exchange rates)."""
    return list(session.scalars(select(Campaign.id).where(
        func.upper(Campaign.currency) != converter.report_currency).order_by(Campaign.id)))


def message_sums(session: Session, converter: Converter, *, keys: list[Any], where: list[Any],
                 joins: tuple[Any, ...] = ()) -> dict[tuple[Hashable, ...], Decimal]:
    """SUM(messages.cost) per `keys` in the report currency.

    A campaign has one currency, so messages of report-currency campaigns are summed by one plain scan of the
    ledger (no join, no rate lookup: parallel on PostgreSQL); only foreign-currency campaigns go through the
    exchange-rate periods.
    """
    foreign = foreign_campaigns(session, converter)
    source: Any = Message.__table__
    for table, condition in joins:
        source = source.join(table, condition)
    local = (select(*keys, exact_sum(session, Message.cost, 4)).select_from(source)
             .where(*where, Message.campaign_id.not_in(foreign)).group_by(*keys))
    totals: dict[tuple[Hashable, ...], Decimal] = defaultdict(Decimal)
    for row in session.execute(local):
        totals[tuple(row[:-1])] += to_decimal(session, row[-1], 4)
    if foreign:
        for key, value in converted_sums(
                session, converter, keys=keys, amount=Message.cost, currency=Campaign.currency, at=_moment(),
                select_from=source.join(Campaign.__table__, Campaign.id == Message.campaign_id),
                where=[*where, Message.campaign_id.in_(foreign)], scale=4).items():
            totals[key] += value
    return dict(totals)


def message_costs(
    session: Session, converter: Converter, *, by: tuple[str, ...] = ("campaign",), campaign_id: int | None = None,
    period: Period | None = None,
) -> dict[tuple[Hashable, ...], Decimal]:
    """Per-message costs (in each campaign's currency) summed per `by` and converted to the report currency."""
    return message_sums(session, converter, keys=[_MESSAGE_KEYS[name] for name in by],
                        where=_message_scope(campaign_id, period))


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
    scope = _message_scope(campaign_id, period)
    keys = [Message.channel, Message.provider, Contact.country]
    foreign = foreign_campaigns(session, converter)
    local = Message.campaign_id.not_in(foreign)
    volumes = session.execute(select(*keys, func.count(), func.sum(Message.parts),
                                     exact_sum(session, Message.cost, 4).filter(local))
                              .join(Contact, Contact.id == Message.contact_id).where(*scope).group_by(*keys)).all()
    costs: dict[tuple[Hashable, ...], Decimal] = {}
    if foreign:
        costs = message_sums(session, converter, keys=keys, where=[*scope, Message.campaign_id.in_(foreign)],
                             joins=((Contact.__table__, Contact.id == Message.contact_id),))
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
