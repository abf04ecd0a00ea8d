"""ROI per campaign, channel and segment: cost vs attributed revenue, cost per lead and per acquisition, budget."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Campaign, Segment
from reports.attribution import Attribution, Credit, Period, attribute
from reports.caches.engagement import ensure_fresh
from reports.costs import budgets, fixed_costs, message_costs, spend_by_key
from reports.funnel import Funnel, funnels
from reports.money import Converter, cents


def ratio(numerator: Decimal, denominator: Decimal | int | None) -> Decimal | None:
    """numerator / denominator, None when the denominator is zero or unknown."""
    if not denominator:
        return None
    return Decimal(numerator) / Decimal(denominator)


@dataclass(frozen=True)
class Economics:
    """Money of one row: cost (variable + fixed), attributed revenue and conversions, and what follows."""

    message_cost: Decimal
    fixed_cost: Decimal
    revenue: Decimal
    conversions: Decimal  # credited by the attribution model (fractional under linear / time-decay)
    leads: int
    sent: int

    @property
    def cost(self) -> Decimal:
        return self.message_cost + self.fixed_cost

    @property
    def roi(self) -> Decimal | None:
        """(revenue − cost) / cost."""
        return ratio(self.revenue - self.cost, self.cost)

    @property
    def cost_per_lead(self) -> Decimal | None:
        return ratio(self.cost, self.leads)

    @property
    def cost_per_acquisition(self) -> Decimal | None:
        return ratio(self.cost, self.conversions)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cost": self.cost, "roi": self.roi, "cost_per_lead": self.cost_per_lead,
                "cost_per_acquisition": self.cost_per_acquisition}


@dataclass(frozen=True)
class CampaignROI:
    """One campaign's row of the ROI table (money in the report currency)."""

    campaign_id: int
    name: str
    status: str
    channels: list[str]
    economics: Economics
    budget: Decimal | None
    funnel: Funnel

    @property
    def budget_consumed(self) -> Decimal | None:
        return ratio(self.economics.cost, self.budget)

    def as_dict(self, currency: str) -> dict[str, Any]:
        money = self.economics
        return {
            "campaign": self.name, "campaign_id": self.campaign_id, "status": self.status,
            "channels": self.channels, "currency": currency, "sent": money.sent, "cost": cents(money.cost),
            "message_cost": cents(money.message_cost), "fixed_cost": cents(money.fixed_cost),
            "revenue": cents(money.revenue), "conversions": money.conversions, "leads": money.leads,
            "roi": money.roi, "cost_per_lead": _cents(money.cost_per_lead),
            "cost_per_acquisition": _cents(money.cost_per_acquisition),
            "budget": _cents(self.budget), "budget_consumed": self.budget_consumed,
        }


def _cents(value: Decimal | None) -> Decimal | None:
    return cents(value) if value is not None else None


def campaign_roi(
    session: Session, converter: Converter, rules: Attribution, *, campaign_id: int | None = None,
    period: Period | None = None, credits: dict[Hashable, Credit] | None = None,
    flows: dict[tuple[Hashable, ...], Funnel] | None = None,
) -> list[CampaignROI]:
    """Every campaign (or one) with cost, revenue under `rules`, ROI, CPL, CPA and budget consumed."""
    query = select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc())
    if campaign_id is not None:
        query = query.where(Campaign.id == campaign_id)
    campaigns = list(session.scalars(query))
    variable = spend_by_key(message_costs(session, converter, campaign_id=campaign_id, period=period))
    fixed = spend_by_key(fixed_costs(session, converter, campaign_id=campaign_id, period=period))
    if credits is None:
        credits = attribute(session, converter, rules, by="campaign", period=period, campaign_id=campaign_id)
    if flows is None:
        flows = funnels(session, by=("campaign",), campaign_id=campaign_id, period=period,
                        window_days=rules.window_days)
    limits = budgets(session, converter)
    rows = []
    for campaign in campaigns:
        funnel = flows.get((campaign.id,), Funnel())
        credit = credits.get(campaign.id)
        money = Economics(variable.get(campaign.id, Decimal(0)), fixed.get(campaign.id, Decimal(0)),
                          credit.revenue if credit else Decimal(0), credit.conversions if credit else Decimal(0),
                          funnel.leads, funnel.sent)
        rows.append(CampaignROI(campaign.id, campaign.name, campaign.status, list(campaign.channels or []), money,
                                limits.get(campaign.id), funnel))
    return rows


def total(rows: list[CampaignROI]) -> Economics:
    """The sum of the rows' economics."""
    return Economics(
        sum((row.economics.message_cost for row in rows), Decimal(0)),
        sum((row.economics.fixed_cost for row in rows), Decimal(0)),
        sum((row.economics.revenue for row in rows), Decimal(0)),
        sum((row.economics.conversions for row in rows), Decimal(0)),
        sum(row.economics.leads for row in rows), sum(row.economics.sent for row in rows),
    )


def channel_roi(session: Session, converter: Converter, rules: Attribution, *, period: Period | None = None,
                flows: dict[tuple[Hashable, ...], Funnel] | None = None) -> dict[str, Economics]:
    """Per channel: message costs (fixed costs belong to campaigns, not channels), attributed revenue, funnel."""
    variable = spend_by_key(message_costs(session, converter, by=("channel",), period=period))
    credits = attribute(session, converter, rules, by="channel", period=period)
    if flows is None:
        flows = funnels(session, by=("channel",), period=period, window_days=rules.window_days)
    channels = sorted({*variable, *credits, *(key[0] for key in flows)}, key=str)
    result = {}
    for channel in channels:
        credit = credits.get(channel)
        funnel = flows.get((channel,), Funnel())
        result[str(channel)] = Economics(variable.get(channel, Decimal(0)), Decimal(0),
                                         credit.revenue if credit else Decimal(0),
                                         credit.conversions if credit else Decimal(0), funnel.leads, funnel.sent)
    return result


def segment_roi(session: Session, converter: Converter, rules: Attribution, *,
                period: Period | None = None) -> dict[str, Economics]:
    """Per campaign segment (audience): the costs of its campaigns and the revenue credited to them."""
    ensure_fresh(session, rules.window_days)
    segment_of: dict[Hashable, Hashable] = {key: value for key, value in
                                            session.execute(select(Campaign.id, Campaign.segment_id))}
    names: dict[Hashable, str] = {key: value for key, value in session.execute(select(Segment.id, Segment.name))}
    costs: dict[Hashable, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for (campaign,), value in message_costs(session, converter, period=period).items():
        costs[segment_of.get(campaign)][0] += value
    for (campaign,), value in fixed_costs(session, converter, period=period).items():
        costs[segment_of.get(campaign)][1] += value
    credits = attribute(session, converter, rules, by="segment", period=period)
    sent: dict[Hashable, int] = defaultdict(int)  # sent messages and leads per segment, over the same period
    leads: dict[Hashable, int] = defaultdict(int)
    for (campaign,), funnel in funnels(session, by=("campaign",), period=period,
                                       window_days=rules.window_days).items():
        sent[segment_of.get(campaign)] += funnel.sent
        leads[segment_of.get(campaign)] += funnel.leads
    result = {}
    for segment_id in {*costs, *credits}:
        credit = credits.get(segment_id)
        label = names.get(segment_id, "(no segment)") if segment_id is not None else "(no segment)"
        result[str(label)] = Economics(costs[segment_id][0], costs[segment_id][1],
                                       credit.revenue if credit else Decimal(0),
                                       credit.conversions if credit else Decimal(0), leads.get(segment_id, 0),
                                       int(sent.get(segment_id, 0)))
    return dict(sorted(result.items()))
