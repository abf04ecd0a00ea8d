"""Journeys in the ROI report: one row per journey (its steps' campaigns summed, its own fixed costs), the steps'
campaigns out of the campaign rows, goal conversions, and the holdout lift from each contact's entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core import clock
from core.models import Enrollment
from core.settings import Settings
from reports.service import roi_report
from tests.campaign_support import make_audience, make_campaign
from tests.helpers import make_conversion
from tests.journeys.support import advance, document, make_journey, people, submit_form


def test_a_journey_has_its_own_roi_row_with_holdout_lift(engine: Engine, session: Session,
                                                         settings: Settings) -> None:
    clock.freeze(datetime(2026, 6, 1, 8, 0, tzinfo=UTC))
    make_audience(session, 2, segment="others", prefix="other")
    make_campaign(session, name="plain", segment="others")
    make_journey(session, settings, document(holdout=0.5, costs={"fixed": 30, "per_message": "0.50"}, steps=[
        {"id": "hello", "send": {"channel": "email", "template": "welcome"}}]))
    contacts = people(session, 60)
    submit_form(session, contacts)
    advance(engine, settings, by=timedelta(minutes=1))
    session.expire_all()
    held = {row.contact_id: row.held_out for row in session.scalars(select(Enrollment))}
    treated = [contact for contact in contacts if not held[contact.id]]
    control = [contact for contact in contacts if held[contact.id]]
    clock.travel(timedelta(hours=2))
    for contact in treated[:10]:
        make_conversion(session, contact=contact, amount="100")
    for contact in control[:1]:
        make_conversion(session, contact=contact, amount="100")
    report = roi_report(session, settings)
    assert [row["campaign"] for row in report["campaigns"]] == ["plain"]  # the step's campaign is not a row
    (row,) = report["journeys"]
    assert row["journey"] == "nurture" and row["enrolled"] == 60 and row["sent"] == len(treated)
    assert row["message_cost"] == Decimal("0.50") * len(treated) and row["fixed_cost"] == Decimal("30.00")
    assert row["revenue"] == Decimal("1000.00") and row["conversions"] == 10
    lift = row["holdout"]
    assert (lift["treated"], lift["held_out"]) == (len(treated), len(control))
    assert lift["treated_rate"] == 10 / len(treated) and lift["held_out_rate"] == 1 / len(control)
    assert lift["uplift_low"] < lift["uplift"] < lift["uplift_high"]
    assert report["total"]["cost"] == row["cost"] + report["campaigns"][0]["cost"]
