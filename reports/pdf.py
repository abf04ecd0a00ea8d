"""The PDF report: headline figures, trends, ROI per campaign and channel, holdout lift and A/B results, with charts."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from core import clock
from core.models import Campaign, Response, Survey, Variant
from core.settings import Settings
from reports import charts
from reports.abtest import ABTest, ab_test
from reports.attribution import MODELS, Attribution, Period
from reports.formatting import money, number, percent
from reports.holdout import Incrementality, incrementality
from reports.money import Converter
from reports.overview import Overview, day_range, overview
from reports.roi import CampaignROI, Economics, campaign_roi, channel_roi, total
from reports.service import attribution_rules, converter, model_comparison
from reports.sql import tune
from surveys.results import SurveyResults, survey_results

TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class ReportData:
    """Everything the PDF shows, computed once."""

    title: str
    period: Period
    currency: str
    rules: Attribution
    headline: Overview
    trends: list[dict[str, Any]]
    campaigns: list[CampaignROI]
    totals: Economics
    channels: dict[str, Economics]
    holdouts: list[tuple[str, Incrementality]] = field(default_factory=list)
    ab_tests: list[tuple[str, ABTest]] = field(default_factory=list)
    models: dict[str, dict[int, Decimal]] = field(default_factory=dict)
    surveys: list[SurveyResults] = field(default_factory=list)  # surveys answered during the period
    generated_at: datetime = field(default_factory=clock.now)

    @property
    def busiest(self) -> CampaignROI | None:
        """The campaign that sent the most in the period (its funnel is drawn)."""
        return max(self.campaigns, key=lambda row: (row.funnel.sent, row.funnel.planned), default=None)


def last_days(days: int, *, end: date | None = None) -> Period:
    """The `days` full UTC days ending with `end` (default: yesterday)."""
    last = end or (clock.now().date() - timedelta(days=1))
    return day_range(last - timedelta(days=days - 1), last)


def gather(session: Session, settings: Settings, period: Period, *, model: str | None = None,
           title: str = "Campaign performance") -> ReportData:
    """Compute every figure of the report for `period` (money in the report currency)."""
    tune(session)
    rules = attribution_rules(settings, model)
    rates: Converter = converter(session, settings)
    rows = [row for row in campaign_roi(session, rates, rules, period=period) if _active(row)]
    data = ReportData(
        title=title, period=period, currency=rates.report_currency, rules=rules,
        headline=(headline := overview(session, rates, rules, period)), trends=headline.trends,
        campaigns=rows, totals=total(rows), channels=channel_roi(session, rates, rules, period=period),
    )
    ids = [row.campaign_id for row in rows]
    # A holdout keeps being reported after the week its control group was planned in (its result matures later).
    with_holdout = set(session.scalars(select(Campaign.id).where(Campaign.id.in_(ids), Campaign.holdout > 0)))
    with_variants = set(session.scalars(select(Variant.campaign_id).where(Variant.campaign_id.in_(ids))
                                        .group_by(Variant.campaign_id).having(func.count() > 1)))
    for row in rows:
        if row.funnel.held_out or row.campaign_id in with_holdout:
            result = incrementality(session, rates, row.campaign_id, window_days=rules.window_days,
                                    cost=row.economics.cost)
            if result is not None:
                data.holdouts.append((row.name, result))
        if row.campaign_id in with_variants:
            test = ab_test(session, row.campaign_id, window_days=rules.window_days)
            if len(test.variants) > 1:
                data.ab_tests.append((row.name, test))
    data.models = {name: values for name, values in model_comparison(session, rates, rules, period=period).items()}
    data.surveys = answered_surveys(session, period.since)
    return data


def answered_surveys(session: Session, since: datetime | None) -> list[SurveyResults]:
    """The results of every survey with a response started since `since` (the period's responses only)."""
    query = select(Survey.name).where(exists().where(Response.survey_id == Survey.id, *(
        [Response.started_at >= since] if since is not None else []))).order_by(Survey.name)
    return [survey_results(session, name, since=since, texts_limit=3) for name in session.scalars(query)]


def _active(row: CampaignROI) -> bool:
    economics = row.economics
    return bool(economics.sent or economics.cost or economics.revenue)


def _data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def chart_images(data: ReportData) -> dict[str, str]:
    """The report's charts as data: URIs (absent when there is nothing to draw)."""
    images: dict[str, str] = {}
    if data.campaigns:
        names = [row.name for row in data.campaigns]
        images["roi"] = _data_uri(charts.spend_vs_revenue(
            names, [row.economics.cost for row in data.campaigns], [row.economics.revenue for row in data.campaigns],
            data.currency))
        images["models"] = _data_uri(charts.models_comparison(
            names, {model: [data.models.get(model, {}).get(row.campaign_id, Decimal(0)) for row in data.campaigns]
                    for model in MODELS}, data.currency))
        funnel = data.busiest.funnel if data.busiest else data.campaigns[0].funnel
        steps = [("planned", funnel.planned), ("sent", funnel.sent), ("delivered", funnel.delivered),
                 ("opened (human)", funnel.opened), ("clicked", funnel.clicked), ("converted", funnel.converted)]
        images["funnel"] = _data_uri(charts.funnel(steps))
    if data.trends:
        images["trend"] = _data_uri(charts.daily_trend([row["day"] for row in data.trends],
                                                       [row["sent"] for row in data.trends],
                                                       [row["revenue"] for row in data.trends], data.currency))
    scored = [(found.survey, found.nps) for found in data.surveys if found.nps is not None]
    if scored:
        images["surveys"] = _data_uri(charts.nps_split([name for name, _ in scored], [
            (score.detractors, score.passives, score.promoters) for _, score in scored]))
    lifted = [(name, result.uplift) for name, result in data.holdouts if result.uplift is not None]
    if lifted:
        images["lift"] = _data_uri(charts.lift_intervals([name for name, _ in lifted],
                                                         [value.estimate for _, value in lifted],
                                                         [value.low for _, value in lifted],
                                                         [value.high for _, value in lifted]))
    return images


def render_html(data: ReportData) -> str:
    """The report as HTML (the PDF's source)."""
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    environment.filters["money"] = lambda value: money(value, data.currency)
    environment.filters["percent"] = percent
    environment.filters["number"] = number
    template = environment.get_template("report.html")
    until = data.period.until - timedelta(seconds=1) if data.period.until else None
    return template.render(data=data, images=chart_images(data), since=data.period.since, until=until,
                           models=MODELS)


def render_pdf(data: ReportData) -> bytes:
    """The report as PDF bytes (WeasyPrint)."""
    from weasyprint import HTML

    return bytes(HTML(string=render_html(data), base_url=str(TEMPLATES)).write_pdf())


def weekly_pdf(session: Session, settings: Settings, *, days: int = 7, end: date | None = None,
               model: str | None = None) -> tuple[bytes, ReportData]:
    """The report of the last `days` full days: PDF bytes and the data behind them."""
    data = gather(session, settings, last_days(days, end=end), model=model,
                  title=f"Campaign performance — last {days} days")
    return render_pdf(data), data
