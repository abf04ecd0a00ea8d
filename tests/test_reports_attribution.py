"""Attribution against hand-computed fixtures: every model, every dimension, exchange rates, windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from core.models import Segment
from reports.attribution import Attribution, Period, attribute, revenue_total
from reports.money import Converter, MissingExchangeRate, cents
from tests.helpers import make_campaign, make_contact, make_conversion, make_message, make_rate

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def days(value: float) -> timedelta:
    return timedelta(days=value)


@pytest.fixture
def journeys(session: Session) -> dict[str, int]:
    """Three campaigns and four buyers (see each model's test for the hand computation).

    alice: touched by A (T0−20d), B (T0−10d), C (T0−1d); buys 300.00 EUR at T0.
    bob:   A at T0−40d (outside the 30-day window), B at T0−5d, a bounced C at T0−3d; buys 99.99 EUR at T0−2d.
    carol: A at T0−3d; buys 50.00 USD at T0 (USD→EUR 0.90 until T0−1d, then 0.80: 40.00 EUR).
    dave:  A at T0+1d (after his purchase); buys 10.00 EUR at T0: unattributed.
    """
    segment = Segment(name="loyal", kind="static")
    session.add(segment)
    session.flush()
    a = make_campaign(session, name="A", channels=["email"])
    b = make_campaign(session, name="B", channels=["sms"])
    c = make_campaign(session, name="C", channels=["email"], segment_id=segment.id)
    alice, bob, carol, dave = (make_contact(session, email=f"{name}@example.com") for name in
                               ("alice", "bob", "carol", "dave"))
    for campaign, contact, sent in ((a, alice, T0 - days(20)), (b, alice, T0 - days(10)), (c, alice, T0 - days(1)),
                                    (a, bob, T0 - days(40)), (b, bob, T0 - days(5)), (a, carol, T0 - days(3)),
                                    (a, dave, T0 + days(1))):
        make_message(session, campaign=campaign, contact=contact, sent_at=sent, status="delivered")
    make_message(session, campaign=c, contact=bob, sent_at=T0 - days(3), status="bounced")
    make_conversion(session, contact=alice, amount="300.00", occurred_at=T0)
    make_conversion(session, contact=bob, amount="99.99", occurred_at=T0 - days(2))
    make_conversion(session, contact=carol, amount="50.00", currency="USD", occurred_at=T0)
    make_conversion(session, contact=dave, amount="10.00", occurred_at=T0)
    make_rate(session, currency="USD", rate="0.90", valid_from=T0 - days(100))
    make_rate(session, currency="USD", rate="0.80", valid_from=T0 - days(1))
    return {"A": a.id, "B": b.id, "C": c.id, "segment": segment.id}


def revenue(session: Session, model: str, by: str = "campaign", **kwargs: object) -> dict[object, Decimal]:
    converter = Converter.load(session, "EUR")
    credits = attribute(session, converter, Attribution(model), by=by, **kwargs)  # type: ignore[arg-type]
    return {key: cents(credit.revenue) for key, credit in credits.items()}


def test_last_touch(session: Session, journeys: dict[str, int]) -> None:
    # alice → C (latest touch), bob → B (A is outside the window, C bounced), carol → A (50 USD × 0.80).
    assert revenue(session, "last-touch") == {
        journeys["A"]: Decimal("40.00"), journeys["B"]: Decimal("99.99"), journeys["C"]: Decimal("300.00")}


def test_first_touch(session: Session, journeys: dict[str, int]) -> None:
    # alice → A (earliest touch in the window): 300 + carol's 40.
    assert revenue(session, "first-touch") == {journeys["A"]: Decimal("340.00"), journeys["B"]: Decimal("99.99")}


def test_linear(session: Session, journeys: dict[str, int]) -> None:
    # alice's 300 in three equal shares of 100.
    assert revenue(session, "linear") == {
        journeys["A"]: Decimal("140.00"), journeys["B"]: Decimal("199.99"), journeys["C"]: Decimal("100.00")}
    converter = Converter.load(session, "EUR")
    credits = attribute(session, converter, Attribution("linear"))
    assert credits[journeys["A"]].conversions == Decimal(1) / 3 + 1  # a third of alice's, all of carol's


def test_time_decay(session: Session, journeys: dict[str, int]) -> None:
    # Weights 2^(−age/7 days) for alice's touches aged 20, 10 and 1 days:
    # 0.1380112, 0.3714986, 0.9057237 (sum 1.4152334) → 29.2555, 78.7500, 191.9945 of her 300.
    assert revenue(session, "time-decay") == {
        journeys["A"]: Decimal("69.26"),  # 29.2555 + carol's 40
        journeys["B"]: Decimal("178.74"),  # 78.7500 + bob's 99.99
        journeys["C"]: Decimal("191.99"),
    }


def test_a_shorter_half_life_favours_recent_touches(session: Session, journeys: dict[str, int]) -> None:
    converter = Converter.load(session, "EUR")
    # Half-life 1 day: weights 2^-20, 2^-10, 2^-1 → C gets 300 × 0.5 / (0.5 + 2^-10 + 2^-20) = 299.41.
    credits = attribute(session, converter, Attribution("time-decay", half_life_days=1))
    assert cents(credits[journeys["C"]].revenue) == Decimal("299.41")


@pytest.mark.parametrize("model", ["last-touch", "first-touch", "linear", "time-decay"])
def test_every_model_shares_out_exactly_the_attributable_revenue(session: Session, journeys: dict[str, int],
                                                                  model: str) -> None:
    converter = Converter.load(session, "EUR")
    credits = attribute(session, converter, Attribution(model))  # type: ignore[arg-type]
    assert cents(sum((credit.revenue for credit in credits.values()), Decimal(0))) == Decimal("439.99")
    assert sum((credit.conversions for credit in credits.values()), Decimal(0)).quantize(Decimal("0.000001")) == 3
    total = revenue_total(session, converter)
    assert (cents(total.revenue), total.conversions) == (Decimal("449.99"), 4)  # dave's 10.00 stays unattributed


def test_by_channel_and_segment(session: Session, journeys: dict[str, int]) -> None:
    assert revenue(session, "last-touch", by="channel") == {"email": Decimal("340.00"), "sms": Decimal("99.99")}
    assert revenue(session, "last-touch", by="segment") == {None: Decimal("139.99"),
                                                            journeys["segment"]: Decimal("300.00")}


def test_window_and_period(session: Session, journeys: dict[str, int]) -> None:
    # A 45-day window brings bob's old A touch in: first-touch gives it his 99.99.
    converter = Converter.load(session, "EUR")
    wide = attribute(session, converter, Attribution("first-touch", window_days=45))
    assert cents(wide[journeys["A"]].revenue) == Decimal("439.99")
    # Conversions of [T0 − 3d, T0): bob's only.
    assert revenue(session, "last-touch", period=Period(T0 - days(3), T0)) == {journeys["B"]: Decimal("99.99")}


def test_one_campaign_keeps_the_credit_its_contacts_share_with_others(session: Session,
                                                                      journeys: dict[str, int]) -> None:
    credits = revenue(session, "linear", campaign_id=journeys["C"])
    assert credits[journeys["C"]] == Decimal("100.00")


def test_a_missing_exchange_rate_is_a_clear_error(session: Session, journeys: dict[str, int]) -> None:
    make_conversion(session, contact=None, amount="12.00", currency="GBP", occurred_at=T0)
    with pytest.raises(MissingExchangeRate, match="GBP→EUR on 2026-03-01.*relance report rate set GBP"):
        revenue_total(session, Converter.load(session, "EUR"))


def test_unknown_model_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown attribution model"):
        Attribution("u-shaped")  # type: ignore[arg-type]
