"""Incrementality against a hand-computed fixture: rates, lift and its 95 % interval, incremental revenue and ROI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from reports.holdout import incrementality
from reports.money import Converter
from reports.stats import two_proportion_z
from tests.helpers import make_campaign, make_contact, make_conversion, make_cost, make_message

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def campaign_id(session: Session) -> int:
    """100 treated contacts (98 delivered, 2 failed before sending) of whom 12 buy 50.00 EUR within 30 days;
    50 held out of whom 3 buy 50.00 EUR. Noise that must not count: a treated purchase on day 31, a held-out
    purchase before the start, 5 excluded contacts who all buy. Cost: 100 × 0.10 + 40.00 fixed = 50.00 EUR."""
    campaign = make_campaign(session, name="spring-holdout", holdout=0.33, started_at=T0)
    for index in range(100):
        contact = make_contact(session, email=f"t{index}@example.com", commit=False)
        session.flush()
        failed = index >= 98
        make_message(session, campaign=campaign, contact=contact, commit=False, cost=Decimal("0.10"),
                     status="failed" if failed else "delivered", sent_at=None if failed else T0 + timedelta(hours=1))
        if index < 11 or index == 99:  # 12 converters, one of them never received the message (still treated)
            make_conversion(session, contact=contact, amount="50.00", occurred_at=T0 + timedelta(days=index % 20),
                            commit=False)
        if index == 50:
            make_conversion(session, contact=contact, amount="500.00", occurred_at=T0 + timedelta(days=31),
                            commit=False)
    for index in range(50):
        contact = make_contact(session, email=f"h{index}@example.com", commit=False)
        session.flush()
        make_message(session, campaign=campaign, contact=contact, status="held_out", commit=False)
        if index < 3:
            make_conversion(session, contact=contact, amount="50.00", occurred_at=T0 + timedelta(days=2),
                            commit=False)
        if index == 10:
            make_conversion(session, contact=contact, amount="80.00", occurred_at=T0 - timedelta(days=1),
                            commit=False)
    for index in range(5):
        contact = make_contact(session, email=f"x{index}@example.com", commit=False)
        session.flush()
        make_message(session, campaign=campaign, contact=contact, status="excluded", reason="no_consent", commit=False)
        make_conversion(session, contact=contact, amount="75.00", occurred_at=T0 + timedelta(days=1), commit=False)
    make_cost(session, campaign=campaign, amount="40.00", commit=False)
    session.commit()
    return campaign.id


def test_treated_versus_held_out(session: Session, campaign_id: int) -> None:
    result = incrementality(session, Converter.load(session, "EUR"), campaign_id, cost=Decimal("50.00"))
    assert result is not None
    assert (result.treated.contacts, result.treated.converters, result.treated.revenue) == (100, 12, Decimal("600.00"))
    assert (result.held_out.contacts, result.held_out.converters, result.held_out.revenue) == (50, 3, Decimal("150.00"))
    assert result.treated.conversion_rate == pytest.approx(0.12)
    assert result.held_out.conversion_rate == pytest.approx(0.06)
    assert (result.treated.revenue_per_contact, result.held_out.revenue_per_contact) == (Decimal(6), Decimal(3))
    assert result.since == T0 and result.until == T0 + timedelta(days=30)


def test_lift_and_its_interval(session: Session, campaign_id: int) -> None:
    result = incrementality(session, Converter.load(session, "EUR"), campaign_id, cost=Decimal("50.00"))
    assert result is not None and result.uplift is not None and result.lift is not None
    # Absolute: 0.12 − 0.06 = 0.06 with Newcombe's interval from the Wilson intervals (z = 1.959964, z² = 3.841459):
    #   12/100: centre (0.12 + 0.019207) / 1.038415 = 0.134057, half 1.959964 × sqrt(0.001056 + 0.000096) / 1.038415
    #           = 0.064064 → [0.069994, 0.198121];  3/50 → [0.020615, 0.162171]
    #   low  = 0.06 − sqrt((0.12 − 0.069994)² + (0.162171 − 0.06)²) = 0.06 − 0.113752 = −0.053752
    #   high = 0.06 + sqrt((0.198121 − 0.12)² + (0.06 − 0.020615)²) = 0.06 + 0.087488 = 0.147488
    assert result.uplift.estimate == pytest.approx(0.06)
    assert (result.uplift.low, result.uplift.high) == (pytest.approx(-0.053752, abs=1e-6),
                                                       pytest.approx(0.147488, abs=1e-6))
    # Relative: 0.12 / 0.06 − 1 = +100 %; ln 2 ± 1.959964 × sqrt(0.88/12 + 0.94/3) = 0.693147 ± 1.218756.
    assert result.lift.estimate == pytest.approx(1.0)
    assert result.lift.low == pytest.approx(-0.408804, abs=1e-6)
    assert result.lift.high == pytest.approx(5.765948, abs=1e-6)
    # Pooled z = 0.06 / sqrt(0.1 · 0.9 · (1/100 + 1/50)) = 1.154701 → p = 0.248213: not significant.
    assert result.p_value == pytest.approx(0.248213, abs=1e-6)
    assert not result.significant and "no significant difference" in result.verdict()
    assert result.incremental_conversions == pytest.approx(6.0)


def test_incremental_revenue_and_roi(session: Session, campaign_id: int) -> None:
    result = incrementality(session, Converter.load(session, "EUR"), campaign_id, cost=Decimal("50.00"))
    assert result is not None
    # 600 − 150 × 100/50 = 300.00 caused by the campaign; (300 − 50) / 50 = 5.
    assert result.incremental_revenue == Decimal("300.00")
    assert result.incremental_roi == Decimal(5)
    # Revenue per contact: 6 − 3 = 3 ± 1.959964 × sqrt(266.667/100 + 143.878/50) = 3 ± 4.614963.
    interval = result.incremental_revenue_interval
    assert interval is not None
    assert (interval.low, interval.high) == (pytest.approx(-161.4963, abs=1e-3), pytest.approx(761.4963, abs=1e-3))


def test_no_holdout_means_no_answer(session: Session) -> None:
    campaign = make_campaign(session, name="no-holdout")
    contact = make_contact(session, email="solo@example.com")
    make_message(session, campaign=campaign, contact=contact)
    result = incrementality(session, Converter.load(session, "EUR"), campaign.id)
    assert result is not None and result.held_out.contacts == 0 and result.uplift is None
    assert "cannot be measured" in result.verdict()


def test_two_proportion_z_by_hand() -> None:
    # 40/200 vs 20/200: pooled 0.15, SE sqrt(0.15 · 0.85 · 0.01) = 0.0357071, z = 2.800560, p = 0.005101.
    z, p_value = two_proportion_z(40, 200, 20, 200)
    assert z == pytest.approx(2.800560, abs=1e-6) and p_value == pytest.approx(0.005101, abs=1e-6)


def test_the_interval_does_not_collapse_when_the_holdout_never_converts() -> None:
    from reports.stats import difference_interval

    # 5/1,500 treated vs 0/50 held out: the Wald interval would be 0.00333 ± 0.00292 (wrongly "significant");
    # Newcombe's: 0.00333 − sqrt((0.00333 − 0.00143)² + 0.07135²) < 0 < 0.00333 + sqrt(…) — not significant.
    interval = difference_interval(5, 1500, 0, 50)
    assert interval is not None and interval.low < 0 < interval.high and not interval.excludes_zero
    assert interval.low == pytest.approx(-0.068040, abs=1e-6)
