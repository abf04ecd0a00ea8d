"""The report entry points the CLI, the PDF, the flow and the dashboard call: settings in, plain data out."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.service import get_campaign
from core.models import Campaign, Segment, Variant
from core.settings import Settings
from reports.abtest import ABTest, ab_test
from reports.attribution import MODELS, Attribution, Model, Period, attribute_all
from reports.costs import CostLine, cost_breakdown
from reports.funnel import Funnel, collapse, funnels
from reports.holdout import Incrementality, incrementality
from reports.journeys import journey_roi
from reports.money import Converter, cents
from reports.roi import CampaignROI, campaign_roi, total
from reports.sql import tune
from reports.timeline import campaign_timeline


def attribution_rules(settings: Settings, model: str | None = None) -> Attribution:
    """The attribution model, window and half-life from settings (a model named here wins)."""
    return Attribution(model or settings.attribution_model,  # type: ignore[arg-type]
                       settings.attribution_window_days, settings.attribution_half_life_days)


def converter(session: Session, settings: Settings) -> Converter:
    """Exchange rates into the configured report currency."""
    return Converter.load(session, settings.report_currency)


def roi_report(session: Session, settings: Settings, *, model: str | None = None, campaign: str | None = None,
               period: Period | None = None) -> dict[str, Any]:
    """The ROI table (one row per campaign, plus totals) as plain data, money rounded to the cent."""
    tune(session)
    rules = attribution_rules(settings, model)
    rates = converter(session, settings)
    campaign_id = get_campaign(session, campaign).id if campaign else None
    rows = campaign_roi(session, rates, rules, campaign_id=campaign_id, period=period)
    journeys = journey_roi(session, rates, rules, period=period) if campaign_id is None else []
    totals = total([*rows, *journeys])
    return {
        "currency": rates.report_currency, "model": rules.model, "window_days": rules.window_days,
        "campaigns": [row.as_dict(rates.report_currency) for row in rows],
        "journeys": [row.as_dict(rates.report_currency) for row in journeys],
        "total": {"sent": totals.sent, "cost": cents(totals.cost), "revenue": cents(totals.revenue),
                  "conversions": totals.conversions, "leads": totals.leads, "roi": totals.roi,
                  "cost_per_lead": cents(totals.cost_per_lead) if totals.cost_per_lead is not None else None,
                  "cost_per_acquisition": cents(totals.cost_per_acquisition)
                  if totals.cost_per_acquisition is not None else None},
    }


def model_comparison(session: Session, rates: Converter, rules: Attribution, *,
                     campaign_id: int | None = None, period: Period | None = None) -> dict[Model, dict[int, Decimal]]:
    """Revenue per campaign id under each of the four models (same window), to see how much the model matters."""
    every = attribute_all(session, rates, rules, by="campaign", period=period, campaign_id=campaign_id)
    return {name: {int(key): credit.revenue for key, credit in every[name].items()}  # type: ignore[call-overload]
            for name in MODELS}


@dataclass(frozen=True)
class CampaignReport:
    """Everything about one campaign: ROI, funnels by variant and channel, A/B, holdout, costs, timeline."""

    campaign: Campaign
    segment: str | None
    currency: str
    rules: Attribution
    roi: CampaignROI
    by_variant: dict[str, Funnel]
    by_channel: dict[str, Funnel]
    ab: ABTest
    holdout: Incrementality | None
    costs: list[CostLine]
    timeline: list[dict[str, Any]]
    models: dict[Model, Decimal]


def campaign_report(session: Session, settings: Settings, name_or_id: str | int, *, model: str | None = None,
                    metric: str = "clicked") -> CampaignReport:
    """The full report of one campaign."""
    tune(session)
    campaign = get_campaign(session, name_or_id)
    rules = attribution_rules(settings, model)
    rates = converter(session, settings)
    every = attribute_all(session, rates, rules, by="campaign", campaign_id=campaign.id)
    detailed = funnels(session, by=("variant", "channel"), campaign_id=campaign.id, window_days=rules.window_days)
    by_variant, by_channel = collapse(detailed, 0), collapse(detailed, 1)
    row = campaign_roi(session, rates, rules, campaign_id=campaign.id, credits=every[rules.model],
                       flows={(campaign.id,): collapse(detailed).get((), Funnel())})[0]
    variant_names = {variant.id: variant.name for variant in _variants(session, campaign.id)}
    has_holdout = campaign.holdout > 0 or row.funnel.held_out > 0
    segment = session.scalar(select(Segment.name).where(Segment.id == campaign.segment_id)) \
        if campaign.segment_id else None
    return CampaignReport(
        campaign=campaign, segment=segment, currency=rates.report_currency, rules=rules, roi=row,
        by_variant={variant_names.get(key[0], "(none)") if key[0] is not None else "(no variant)": funnel  # type: ignore[call-overload]
                    for key, funnel in by_variant.items()},
        by_channel={str(key[0]): funnel for key, funnel in by_channel.items()},
        ab=ab_test(session, campaign.id, metric=metric, window_days=rules.window_days,  # type: ignore[arg-type]
                   by_variant=by_variant),
        holdout=incrementality(session, rates, campaign.id, window_days=rules.window_days,
                               cost=row.economics.cost) if has_holdout else None,
        costs=cost_breakdown(session, rates, campaign_id=campaign.id),
        timeline=campaign_timeline(session, campaign.id),
        models={name: every[name][campaign.id].revenue if campaign.id in every[name] else Decimal(0)
                for name in MODELS},
    )


def _variants(session: Session, campaign_id: int) -> list[Variant]:
    return list(session.scalars(select(Variant).where(Variant.campaign_id == campaign_id).order_by(Variant.name)))


def list_campaigns(session: Session) -> list[dict[str, Any]]:
    """Every campaign: id, name, status, channels, created and started dates."""
    query = select(Campaign.id, Campaign.name, Campaign.status, Campaign.channels, Campaign.created_at,
                   Campaign.started_at, Campaign.holdout).order_by(Campaign.created_at.desc(), Campaign.id.desc())
    return [dict(row._mapping) for row in session.execute(query)]
