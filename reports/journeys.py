"""ROI per journey: the costs and attributed revenue of every send step's campaign summed per journey, plus the
journey's own fixed costs, and its holdout lift (enrolled and treated vs enrolled and held out, each contact's
conversions counted from its entry) with confidence intervals."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from core.models import Campaign, Enrollment, Journey, JourneyStep, JourneyVersion
from reports.attribution import Attribution, Credit, Period, attribute
from reports.costs import fixed_costs, message_costs, spend_by_key
from reports.funnel import Funnel, funnels
from reports.holdout import Arm, Incrementality, arm_figures, compare
from reports.money import Converter, cents
from reports.roi import Economics


@dataclass(frozen=True)
class JourneyROI:
    """One journey's row: economics over its step campaigns, enrollments, goal conversions and holdout lift."""

    journey_id: int
    name: str
    status: str
    channels: list[str]
    economics: Economics
    budget: Decimal | None
    enrolled: int
    converted: int
    holdout: Incrementality | None

    def as_dict(self, currency: str) -> dict[str, Any]:
        money = self.economics
        lift = self.holdout
        return {
            "journey": self.name, "journey_id": self.journey_id, "status": self.status, "channels": self.channels,
            "currency": currency, "enrolled": self.enrolled, "converted": self.converted, "sent": money.sent,
            "cost": cents(money.cost), "message_cost": cents(money.message_cost),
            "fixed_cost": cents(money.fixed_cost), "revenue": cents(money.revenue),
            "conversions": money.conversions, "leads": money.leads, "roi": money.roi,
            "cost_per_acquisition": cents(money.cost_per_acquisition) if money.cost_per_acquisition else None,
            "cost_per_lead": cents(money.cost_per_lead) if money.cost_per_lead else None,
            "budget": cents(self.budget) if self.budget is not None else None,
            "budget_consumed": money.cost / self.budget if self.budget else None,
            "holdout": None if lift is None else {
                "treated": lift.treated.contacts, "held_out": lift.held_out.contacts,
                "treated_rate": lift.treated.conversion_rate, "held_out_rate": lift.held_out.conversion_rate,
                "uplift": lift.uplift.estimate if lift.uplift else None,
                "uplift_low": lift.uplift.low if lift.uplift else None,
                "uplift_high": lift.uplift.high if lift.uplift else None,
                "p_value": lift.p_value, "incremental_revenue": lift.incremental_revenue,
                "verdict": lift.verdict()},
        }


def step_campaigns_by_journey(session: Session) -> dict[int, list[int]]:
    """journey id -> the campaigns behind its send steps (every version)."""
    rows = session.execute(select(JourneyVersion.journey_id, JourneyStep.campaign_id)
                           .join(JourneyStep, JourneyStep.version_id == JourneyVersion.id)
                           .where(JourneyStep.campaign_id.is_not(None)))
    found: dict[int, list[int]] = defaultdict(list)
    for journey_id, campaign_id in rows:
        found[journey_id].append(int(campaign_id))
    return found


def journey_roi(session: Session, converter: Converter, rules: Attribution, *, period: Period | None = None,
                credits: dict[Hashable, Credit] | None = None,
                flows: dict[tuple[Hashable, ...], Funnel] | None = None) -> list[JourneyROI]:
    """Every published journey with cost, attributed revenue, ROI, and its holdout lift."""
    campaigns = step_campaigns_by_journey(session)
    journeys = [journey for journey in session.scalars(select(Journey).order_by(Journey.name))
                if journey.id in campaigns]
    if not journeys:
        return []
    variable = spend_by_key(message_costs(session, converter, period=period))
    fixed = spend_by_key(fixed_costs(session, converter, period=period))
    if credits is None:
        credits = attribute(session, converter, rules, by="campaign", period=period)
    if flows is None:
        flows = funnels(session, by=("campaign",), period=period, window_days=rules.window_days)
    channels = dict(session.execute(select(Campaign.id, Campaign.channels)).tuples().all())
    rows = []
    live = {(journey_id, number): definition for journey_id, number, definition in session.execute(
        select(JourneyVersion.journey_id, JourneyVersion.number, JourneyVersion.definition))}
    for journey in journeys:
        ids = campaigns[journey.id]
        definition = live.get((journey.id, journey.current_version), journey.draft)
        money = _economics(journey, definition, ids, variable, fixed, credits, flows, converter)
        enrolled, converted = _enrollments(session, journey.id)
        rows.append(JourneyROI(
            journey.id, journey.name, journey.status,
            sorted({channel for campaign_id in ids for channel in channels.get(campaign_id) or []}), money,
            _budget(journey, definition, converter), enrolled, converted,
            journey_incrementality(session, converter, journey.id, window_days=rules.window_days, cost=money.cost)))
    return rows


def _economics(journey: Journey, definition: dict[str, Any], ids: list[int], variable: dict[Hashable, Decimal],
               fixed: dict[Hashable, Decimal], credits: dict[Hashable, Credit],
               flows: dict[tuple[Hashable, ...], Funnel], converter: Converter) -> Economics:
    own_fixed = Decimal(str((definition.get("costs") or {}).get("fixed", 0)))
    currency = str(definition.get("currency", "EUR"))
    started = journey.live_since or journey.created_at
    funnel = Funnel()
    for campaign_id in ids:
        funnel.add(flows.get((campaign_id,), Funnel()))
    return Economics(
        sum((variable.get(campaign_id, Decimal(0)) for campaign_id in ids), Decimal(0)),
        sum((fixed.get(campaign_id, Decimal(0)) for campaign_id in ids), Decimal(0))
        + (converter.convert(own_fixed, currency, started) if own_fixed else Decimal(0)),
        sum((credits[campaign_id].revenue for campaign_id in ids if campaign_id in credits), Decimal(0)),
        sum((credits[campaign_id].conversions for campaign_id in ids if campaign_id in credits), Decimal(0)),
        funnel.leads, funnel.sent)


def _budget(journey: Journey, definition: dict[str, Any], converter: Converter) -> Decimal | None:
    budget = definition.get("budget")
    if budget is None:
        return None
    return converter.convert(Decimal(str(budget)), str(definition.get("currency", "EUR")),
                             journey.live_since or journey.created_at)


def _enrollments(session: Session, journey_id: int) -> tuple[int, int]:
    enrolled, converted = session.execute(
        select(func.count(), func.count().filter(Enrollment.status == "converted"))
        .where(Enrollment.journey_id == journey_id)).one()
    return int(enrolled), int(converted or 0)


def journey_incrementality(session: Session, converter: Converter, journey_id: int, *, window_days: float = 30.0,
                           cost: Decimal = Decimal(0)) -> Incrementality | None:
    """Enrolled contacts who received the journey vs its holdout (intention to treat): conversions from each
    contact's first entry until `window_days` after the last entry. None before anyone enrolled."""
    first, last = session.execute(select(func.min(Enrollment.entered_at), func.max(Enrollment.entered_at))
                                  .where(Enrollment.journey_id == journey_id)).one()
    if first is None:
        return None
    arm = case((func.max(case((Enrollment.held_out.is_(True), 1), else_=0)) == 1, literal("held_out")),
               else_=literal("treated"))
    arms = (select(Enrollment.contact_id.label("contact_id"), arm.label("arm"),
                   func.min(Enrollment.entered_at).label("entered_at"))
            .where(Enrollment.journey_id == journey_id).group_by(Enrollment.contact_id).subquery("arms"))
    until: datetime = last + timedelta(days=window_days)
    figures = arm_figures(session, converter, arms, arms.c.entered_at, until)
    return compare(journey_id, first, until, figures.get("treated", Arm(0, 0, Decimal(0), 0.0)),
                   figures.get("held_out", Arm(0, 0, Decimal(0), 0.0)), cost)
