"""Every dashboard page through streamlit.testing.v1.AppTest: the numbers shown are the numbers reports/ computes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from core import clock
from core.settings import get_settings
from reports import audience
from reports.attribution import Attribution
from reports.formatting import money, percent
from reports.formatting import number as count
from reports.funnel import funnels
from reports.money import Converter, cents
from reports.overview import day_range, overview
from reports.roi import campaign_roi, segment_roi
from reports.service import campaign_report
from segments.service import get_segment, preview
from tests.report_seed import PASSWORD, Seeded, seed

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


@pytest.fixture
def seeded(cli_env: Path, session: Session) -> Iterator[Seeded]:
    """The seeded company behind RELANCE_DATABASE_URL, and empty Streamlit caches."""
    st.cache_data.clear()
    st.cache_resource.clear()
    yield seed(session)
    st.cache_data.clear()
    st.cache_resource.clear()


def _app(role: str = "admin", page: str | None = None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state["relance_user"] = {"username": "ana", "role": role}
    app.run()
    if page:
        app.switch_page(page).run()
    assert not app.exception, app.exception
    return app


def _metrics(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def _table(app: AppTest, index: int) -> Any:
    return app.dataframe[index].value


def test_sign_in_with_a_password_and_roles(seeded: Seeded) -> None:
    app = AppTest.from_file(APP, default_timeout=60).run()
    assert app.title[0].value == "Relance" and not app.metric
    app.text_input(key="login_username").input("vera")
    app.text_input(key="login_password").input("wrong password")
    app.button[0].click().run()
    assert "Wrong username or password" in app.error[0].value and not app.metric
    app.text_input(key="login_password").input(PASSWORD)
    app.button[0].click().run()
    assert not app.exception and app.title[0].value == "Overview"
    assert app.session_state["relance_user"] == {"username": "vera", "role": "viewer"}
    with pytest.raises(ValueError, match="not a registered page|Could not find"):
        app.switch_page("views/schedule.py")  # a viewer has no Schedule page


def test_overview_shows_the_reports_figures(seeded: Seeded, session: Session) -> None:
    app = _app()
    today = clock.now().date()
    period = day_range(today - timedelta(days=29), today)
    converter = Converter.load(session, "EUR")
    expected = overview(session, converter, Attribution(get_settings().attribution_model), period)
    shown = _metrics(app)
    assert shown["Spend"] == money(expected.spend, "EUR") == "25.95 EUR"  # 40 × 0.005 + 10 × 0.075 + 25.00 fixed
    assert shown["Attributed revenue"] == money(expected.attributed_revenue, "EUR")
    assert shown["All revenue"] == money(expected.revenue, "EUR") == "405.30 EUR"
    assert shown["ROI"] == percent(expected.roi, 0)
    assert shown["Messages sent"] == count(expected.messages_sent) == "50"
    assert shown["Contacts"] == count(audience.contact_totals(session)["contacts"])
    reach = {row["channel"]: row for row in _table(app, 1).to_dict("records")}
    assert reach["email"]["with address"] == audience.reachability(session)[0].with_address
    assert [button.label for button in app.get("download_button")][:2] == [
        "Download daily trends (CSV)", "Download reachability (CSV)"]
    app.button(key="prepare-pdf").click().run()
    assert not app.exception and app.session_state["overview-pdf"].startswith(b"%PDF-")
    assert "Download the PDF report" in [button.label for button in app.get("download_button")]


def test_a_page_says_when_it_builds_the_report_caches(seeded: Seeded, session: Session,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard import data
    from reports.caches.engagement import backlog

    assert backlog(session) == 50  # the seeded sends, never summarised
    monkeypatch.setattr(data, "BUILD_NOTICE", 50)  # as many as a first load after an upgrade
    app = _app()
    assert [re.sub(r"in \d+ s", "in N s", status.label) for status in app.status] == [
        "Report caches ready in N s: 50 sent messages added, summed for a 30-day attribution window."]
    assert _metrics(app)["Messages sent"] == "50" and backlog(session) == 0
    app.run()
    assert not app.status  # built: the next runs just read
    monkeypatch.setenv("RELANCE_ATTRIBUTION_WINDOW_DAYS", "7")  # the admin shortens the window
    get_settings.cache_clear()
    monkeypatch.setattr(data, "CHECK_EVERY", 0.0)
    app = _app()
    assert [re.sub(r"in \d+ s", "in N s", status.label) for status in app.status] == [
        "Report caches ready in N s: 0 sent messages added, summed for a 7-day attribution window."]


def test_campaigns_table_matches_roi(seeded: Seeded, session: Session) -> None:
    app = _app(page="views/campaigns.py")
    rows = {row["campaign"]: row for row in _table(app, 0).to_dict("records")}
    expected = {row.name: row for row in campaign_roi(session, Converter.load(session, "EUR"), Attribution())}
    assert set(rows) == set(expected) == {Seeded.campaign, Seeded.sms_campaign}
    for name, row in expected.items():
        assert rows[name]["sent"] == row.funnel.sent
        assert rows[name]["clicked"] == row.funnel.clicked
        assert rows[name]["cost (EUR)"] == float(cents(row.economics.cost))
        assert rows[name]["revenue (EUR)"] == float(cents(row.economics.revenue))
    assert rows[Seeded.campaign]["cost (EUR)"] == 25.20 and rows[Seeded.campaign]["revenue (EUR)"] == 305.50
    app.selectbox(key="campaigns-open").select(Seeded.sms_campaign)
    app.button(key="campaigns-open-button").click().run()
    assert not app.exception and app.title[0].value == "Campaign report"
    assert app.selectbox(key="campaign-name").value == Seeded.sms_campaign


def test_campaign_page_funnel_variants_and_holdout(seeded: Seeded, session: Session) -> None:
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state["relance_user"] = {"username": "ana", "role": "admin"}
    app.query_params["campaign"] = Seeded.campaign
    app.run()
    app.switch_page("views/campaign.py").run()
    assert not app.exception, app.exception
    report = campaign_report(session, get_settings(), Seeded.campaign)
    shown = _metrics(app)
    assert shown["Cost"] == money(report.roi.economics.cost, "EUR") == "25.20 EUR"
    assert shown["Revenue"] == money(report.roi.economics.revenue, "EUR")
    assert shown["ROI"] == percent(report.roi.economics.roi, 0)
    assert shown["Budget used"] == percent(report.roi.budget_consumed, 0) == "50 %"
    variants = {row["variant"]: row for row in app.dataframe[2].value.to_dict("records")}
    assert {name: row["clicked"] for name, row in variants.items()} == {
        arm.name: arm.successes for arm in report.ab.variants} == {"A": 8, "B": 2}
    assert report.holdout is not None and report.holdout.lift is not None
    assert shown["Lift"] == percent(report.holdout.lift.estimate, 0)
    assert shown["Incremental revenue"] == money(report.holdout.incremental_revenue, "EUR")
    arms = {row["group"]: row for row in app.dataframe[3].value.to_dict("records")}
    assert (arms["treated"]["contacts"], arms["treated"]["converters"]) == (
        report.holdout.treated.contacts, report.holdout.treated.converters) == (40, 4)
    assert (arms["held out"]["contacts"], arms["held out"]["converters"]) == (10, 2)
    assert [row["day"] for row in app.dataframe[4].value.to_dict("records")][:1] == [report.timeline[0]["day"]]


def test_channels_page(seeded: Seeded, session: Session) -> None:
    app = _app(page="views/channels.py")
    rows = {row["channel"]: row for row in _table(app, 0).to_dict("records")}
    today = clock.now().date()
    expected = funnels(session, by=("channel",), period=day_range(today - timedelta(days=89), today))
    assert {channel: (row["sent"], row["delivered"]) for channel, row in rows.items()} == {
        key[0]: (funnel.sent, funnel.delivered) for key, funnel in expected.items()} == {
        "email": (40, 40), "sms": (10, 9)}


def test_segments_page(seeded: Seeded, session: Session) -> None:
    app = _app(page="views/segments.py")
    segments = _table(app, 0).to_dict("records")
    assert [(row["name"], row["size"]) for row in segments] == [(Seeded.segment, 3)]
    history = _table(app, 1).to_dict("records")
    assert [row["size"] for row in history] == [1, 2, 3]
    money = {row["segment"]: row for row in _table(app, 2).to_dict("records")}
    expected = segment_roi(session, Converter.load(session, "EUR"), Attribution())
    assert {name: (row["sent"], row["cost (EUR)"], row["revenue (EUR)"]) for name, row in money.items()} == {
        name: (value.sent, float(cents(value.cost)), float(cents(value.revenue))) for name, value in expected.items()}
    assert money[Seeded.segment]["sent"] == 40 and money["(no segment)"]["sent"] == 10
    members = app.dataframe[-1].value.to_dict("records")
    assert [row["id"] for row in members] == [row["id"] for row in preview(session, get_segment(session, "loyal"))]


def test_lead_scoring_page(seeded: Seeded, session: Session) -> None:
    app = _app(page="views/scoring.py")
    shown = _metrics(app)
    assert shown["ROC AUC"] == "0.812" and shown["Top 20 % captures"] == "50 %"
    hottest = app.dataframe[-1].value.to_dict("records")
    expected = audience.hottest_leads(session)
    assert [row["email"] for row in hottest] == [row["email"] for row in expected]
    assert hottest[0]["email"] == Seeded.focus_email and "clicked 4 emails" in hottest[0]["reasons"]


def test_contacts_search_and_360_view(seeded: Seeded, session: Session) -> None:
    app = _app(page="views/contacts.py")
    app.text_input(key="contacts-search").input("martin").run()
    assert not app.exception, app.exception
    found = _table(app, 0).to_dict("records")
    assert [row["email"] for row in found] == [Seeded.focus_email]
    assert _metrics(app)["Rule score"] == "72" and _metrics(app)["Grade"] == "A"
    timeline = app.dataframe[-1].value.to_dict("records")
    assert [row["type"] for row in timeline] == ["form.submitted"]


def test_schedule_page_previews_the_plan_then_schedules(seeded: Seeded, session: Session) -> None:
    from sqlalchemy import select

    from core.models import AuditLog, Campaign
    from dashboard.scheduling import ScheduleRequest
    from dashboard.scheduling import preview as plan_preview

    app = _app(role="marketer", page="views/schedule.py")
    app.text_input(key="schedule-name").input("winter-promo").run()
    assert not app.exception, app.exception
    app.button(key="schedule-preview").click().run()
    assert not app.exception and not app.error, (app.exception, app.error)
    shown = _metrics(app)
    chosen = app.selectbox(key="schedule-A-email").value
    at = app.session_state["schedule-plan"][0].at
    request = ScheduleRequest(name="winter-promo", segment=Seeded.segment, channels=["email"],
                              variants={"A": {"email": chosen}}, at=at, holdout=0.1)
    expected = plan_preview(session, get_settings(), request)
    assert shown["Audience"] == count(expected["audience"]) == "3"
    assert shown["To send"] == count(expected["to_send"]) and shown["Held out"] == count(expected["held_out"])
    assert session.scalar(select(Campaign).where(Campaign.name == "winter-promo")) is None  # a preview saves nothing
    app.button(key="schedule-confirm").click().run()
    assert not app.exception and "scheduled for" in app.success[0].value
    session.expire_all()
    campaign = session.scalars(select(Campaign).where(Campaign.name == "winter-promo")).one()
    assert campaign.status == "scheduled" and campaign.scheduled_at == at and campaign.holdout == 0.1
    actors = {row.actor for row in session.scalars(select(AuditLog).where(AuditLog.target == "winter-promo"))}
    assert actors == {"ana"}
