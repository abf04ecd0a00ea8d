"""What each dashboard page reads, as plain functions of (session, settings, arguments) — no Streamlit here.

Pages call these through `dashboard.data` (which caches them); `bench/dashboard.py` times the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from contacts.view import contact_view, find_contact
from core.models import Contact
from core.settings import Settings
from journeys.diagram import flow_dot
from journeys.service import get_journey, list_journeys
from journeys.status import JourneyStatus, journey_status
from reports import audience
from reports.attribution import Period
from reports.export import campaign_dict
from reports.funnel import Funnel, funnels
from reports.journeys import JourneyROI, journey_roi
from reports.overview import Overview, day_range, overview
from reports.roi import CampaignROI, Economics, campaign_roi, channel_roi, segment_roi
from reports.service import attribution_rules, campaign_report, converter, list_campaigns
from reports.sql import tune
from segments.service import get_segment, preview


@dataclass(frozen=True)
class OverviewData:
    """The Overview page: headline figures, contacts and reachability, daily trends."""

    currency: str
    headline: Overview
    contacts: dict[str, int]
    reach: list[audience.Reach]
    trends: list[dict[str, Any]]
    new_contacts: list[dict[str, Any]]


def overview_page(session: Session, settings: Settings, start: date, end: date,
                  model: str | None = None) -> OverviewData:
    tune(session)
    period = day_range(start, end)
    rates, rules = converter(session, settings), attribution_rules(settings, model)
    headline = overview(session, rates, rules, period)
    totals, reach = audience.contacts_and_reach(session, period)
    return OverviewData(rates.report_currency, headline, totals, reach, headline.trends,
                        audience.new_contacts_by_day(session, period))


@dataclass(frozen=True)
class CampaignsData:
    """The Campaigns page: one ROI row (with its funnel) per campaign."""

    currency: str
    model: str
    rows: list[CampaignROI]


def campaigns_page(session: Session, settings: Settings, model: str | None = None) -> CampaignsData:
    tune(session)
    rates, rules = converter(session, settings), attribution_rules(settings, model)
    return CampaignsData(rates.report_currency, rules.model, campaign_roi(session, rates, rules))


def campaign_names(session: Session) -> list[str]:
    return [str(row["name"]) for row in list_campaigns(session)]


def campaign_page(session: Session, settings: Settings, name: str, model: str | None = None,
                  metric: str = "clicked") -> dict[str, Any]:
    """The campaign report as plain data (see reports.export.campaign_dict)."""
    return campaign_dict(campaign_report(session, settings, name, model=model, metric=metric))


@dataclass(frozen=True)
class ChannelsData:
    """The Channels page: economics and funnel per channel over a period."""

    currency: str
    economics: dict[str, Economics]
    funnels: dict[str, Funnel]


def channels_page(session: Session, settings: Settings, start: date, end: date,
                  model: str | None = None) -> ChannelsData:
    tune(session)
    period: Period = day_range(start, end)
    rates, rules = converter(session, settings), attribution_rules(settings, model)
    flows = funnels(session, by=("channel",), period=period, window_days=rules.window_days)
    return ChannelsData(rates.report_currency, channel_roi(session, rates, rules, period=period, flows=flows),
                        {str(key[0]): funnel for key, funnel in flows.items()})


@dataclass(frozen=True)
class SegmentsData:
    """The Segments page: every segment, sizes over time, ROI of the campaigns sent to each."""

    currency: str
    segments: list[dict[str, Any]]
    history: list[dict[str, Any]]
    economics: dict[str, Economics]


def segments_page(session: Session, settings: Settings, model: str | None = None) -> SegmentsData:
    tune(session)
    rates, rules = converter(session, settings), attribution_rules(settings, model)
    return SegmentsData(rates.report_currency, audience.segments_summary(session), audience.segment_history(session),
                        segment_roi(session, rates, rules))


def segment_preview(session: Session, name: str, limit: int = 20) -> list[dict[str, Any]]:
    return preview(session, get_segment(session, name), limit=limit)


@dataclass(frozen=True)
class ScoringData:
    """The Lead scoring page: distributions, the active model's metrics, the hottest leads."""

    scores: list[dict[str, Any]]
    probabilities: list[dict[str, Any]]
    grades: dict[str, int]
    model: dict[str, Any] | None
    hottest: list[dict[str, Any]]


def scoring_page(session: Session, limit: int = 25) -> ScoringData:
    tune(session)
    distributions = audience.score_distributions(session)
    return ScoringData(distributions.scores, distributions.probabilities, distributions.grades,
                       audience.active_model(session), audience.hottest_leads(session, limit=limit))


def contact_search(session: Session, text: str) -> list[dict[str, Any]]:
    found = find_contact(session, text) if text.strip() else None
    if found is not None and found.erased_at is None:
        return [{"id": found.id, "email": found.email, "first_name": found.first_name, "last_name": found.last_name,
                 "company": found.company, "country": found.country, "lifecycle_stage": found.lifecycle_stage,
                 "score": found.score}]
    return audience.search_contacts(session, text)


def contact_page(session: Session, contact_id: int, events: int = 200) -> dict[str, Any] | None:
    contact = session.get(Contact, contact_id)
    return contact_view(session, contact, events=events) if contact is not None else None


@dataclass(frozen=True)
class JourneyData:
    """The Journeys page: one journey's status table, its flow diagram (DOT) and its ROI row."""

    currency: str
    model: str
    status: JourneyStatus
    diagram: str
    roi: JourneyROI | None


def journey_names(session: Session) -> list[str]:
    return [journey.name for journey in list_journeys(session)]


def journey_page(session: Session, settings: Settings, name: str, model: str | None = None) -> JourneyData:
    tune(session)
    rates, rules = converter(session, settings), attribution_rules(settings, model)
    status = journey_status(session, get_journey(session, name))
    roi = next((row for row in journey_roi(session, rates, rules) if row.name == name), None)
    return JourneyData(rates.report_currency, rules.model, status, flow_dot(status), roi)


def survey_names(session: Session) -> list[str]:
    """Surveys, newest first."""
    from surveys.service import list_surveys

    return [str(row["name"]) for row in list_surveys(session)]


def survey_page(session: Session, name: str, segment: str | None, since: date | None, language: str) -> Any:
    """The Surveys page: the survey's results (surveys.results), optionally for a segment and from a date."""
    from datetime import UTC, datetime, time

    from surveys.results import survey_results

    moment = datetime.combine(since, time(), tzinfo=UTC) if since else None
    return survey_results(session, name, segment=segment, since=moment, language=language)
