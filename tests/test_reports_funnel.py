"""Funnels, A/B tests, costs and ROI against hand-counted fixtures, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Campaign, Contact, Message
from reports.abtest import ab_test
from reports.attribution import Attribution
from reports.costs import cost_breakdown, fixed_costs, message_costs
from reports.funnel import funnels
from reports.money import Converter, cents
from reports.roi import campaign_roi, channel_roi
from tests.helpers import (
    make_campaign,
    make_contact,
    make_conversion,
    make_cost,
    make_event,
    make_message,
    make_rate,
    make_variant,
)

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
SENT = T0 + timedelta(hours=1)


def _people(session: Session, prefix: str, count: int, **fields: object) -> list[Contact]:
    people = [make_contact(session, email=f"{prefix}{index}@example.com", commit=False, **fields)
              for index in range(count)]
    session.flush()
    return people


def _send(session: Session, campaign: object, people: list[Contact], **fields: object) -> list[Message]:
    return [make_message(session, campaign=campaign, contact=person, commit=False, **fields)  # type: ignore[arg-type]
            for person in people]


@pytest.fixture
def duo(session: Session) -> int:
    """Campaign "duo" (EUR, budget 100.00): email A ×10, email B ×10, SMS A ×4, letters A ×2, 3 excluded, 2 held out.

    email A: 9 delivered + 1 bounced; 5 human openers (one opens twice), 2 machine-only opens; 3 human clickers
             + 1 machine click; 1 unsubscribe, 1 complaint; 2 buyers (120.00 and 80.00 within the window).
    email B: 10 delivered; 2 openers, 1 clicker; 1 lead form; 1 buyer 31 days later (outside the window).
    SMS A:   3 delivered, 1 failed; one STOP within the window, one STOP 40 days later.
    letters: 1 returned.
    Costs: email 0.0010 × 20, SMS 2 segments × 0.0750 × 4, letters 1.5100 × 2 → 3.64, plus 40.00 fixed.
    """
    campaign = make_campaign(session, name="duo", channels=["email", "sms", "mail"], budget=Decimal("100.00"),
                             started_at=T0)
    a, b = make_variant(session, campaign=campaign, name="A"), make_variant(session, campaign=campaign, name="B")
    email_a = _send(session, campaign, _people(session, "ea", 10), variant_id=a.id, sent_at=SENT,
                    cost=Decimal("0.0010"), provider="sendgrid")
    email_b = _send(session, campaign, _people(session, "eb", 10), variant_id=b.id, sent_at=SENT,
                    cost=Decimal("0.0010"), provider="sendgrid")
    sms = _send(session, campaign, _people(session, "s", 4, phone=None), channel="sms", variant_id=a.id,
                sent_at=SENT, cost=Decimal("0.1500"), parts=2, provider="twilio")
    mail = _send(session, campaign, _people(session, "m", 2, country="BE"), channel="mail", variant_id=a.id,
                 sent_at=SENT, cost=Decimal("1.5100"), provider="letters")
    _send(session, campaign, _people(session, "x", 3), status="excluded", reason="no_consent")
    _send(session, campaign, _people(session, "h", 2), status="held_out")
    at = SENT + timedelta(hours=2)
    events = [("email.delivered", message, {}) for message in email_a[:9] + email_b]
    events += [("email.bounced", email_a[9], {"bounce": "hard"})]
    events += [("email.opened", message, {"machine": False}) for message in email_a[:5] + email_a[:1] + email_b[:2]]
    events += [("email.opened", message, {"machine": True}) for message in email_a[5:7]]
    events += [("email.clicked", message, {"machine": False}) for message in email_a[:3] + email_b[:1]]
    events += [("email.clicked", email_a[7], {"machine": True}), ("email.unsubscribed", email_a[4], {}),
               ("email.complained", email_a[3], {})]
    events += [("sms.delivered", message, {}) for message in sms[:3]] + [("sms.failed", sms[3], {})]
    events += [("mail.returned", mail[0], {})]
    for kind, message, properties in events:
        make_event(session, type=kind, message=message, occurred_at=at, commit=False, **properties)
    contact = {message.contact_id: message for message in email_a + email_b + sms}
    for message, days, keyword in ((sms[0], 2, "opt_out"), (sms[1], 40, "opt_out")):
        make_event(session, type="sms.received", contact=session.get(Contact, message.contact_id),
                   occurred_at=SENT + timedelta(days=days), commit=False, keyword=keyword)
    make_event(session, type="form.submitted", contact=session.get(Contact, email_b[3].contact_id),
               occurred_at=SENT + timedelta(days=1), commit=False, form="demo-request")
    for message, amount, days in ((email_a[0], "120.00", 3), (email_a[1], "80.00", 10), (email_b[5], "60.00", 31)):
        make_conversion(session, contact=session.get(Contact, contact[message.contact_id].contact_id), amount=amount,
                        occurred_at=SENT + timedelta(days=days), commit=False)
    make_cost(session, campaign=campaign, amount="40.00", category="agency", incurred_at=T0, commit=False)
    session.commit()
    return campaign.id


def test_campaign_funnel(session: Session, duo: int) -> None:
    funnel = funnels(session, campaign_id=duo)[(duo,)]
    counts = funnel.as_dict()
    expected = {"audience": 31, "excluded": 3, "held_out": 2, "planned": 26, "sent": 26, "delivered": 23,
                "email_delivered": 19, "opened": 7, "machine_opened": 2, "clicked": 4, "unsubscribed": 2,
                "bounced": 3, "complained": 1, "leads": 1, "converted": 2}
    assert {key: counts[key] for key in expected} == expected
    rates = {rate.name: rate for rate in funnel.rates()}
    assert rates["open rate (human)"].value == pytest.approx(7 / 19)
    assert rates["open rate (human)"].label == "opened / email_delivered"
    assert rates["delivery rate"].value == pytest.approx(23 / 26)
    assert rates["conversion rate"].label == "converted / sent"


def test_funnel_by_variant_and_channel(session: Session, duo: int) -> None:
    by_variant = funnels(session, by=("variant",), campaign_id=duo)
    sent = {key: funnel.sent for key, funnel in by_variant.items()}
    assert sorted(sent.values()) == [0, 10, 16]  # None (excluded + held out) sends nothing
    by_channel = {key[0]: funnel for key, funnel in funnels(session, by=("channel",), campaign_id=duo).items()}
    assert (by_channel["email"].sent, by_channel["email"].delivered, by_channel["email"].clicked) == (20, 19, 4)
    assert (by_channel["sms"].delivered, by_channel["sms"].bounced, by_channel["sms"].unsubscribed) == (3, 1, 1)
    assert (by_channel["mail"].sent, by_channel["mail"].delivered, by_channel["mail"].bounced) == (2, 1, 1)


def test_costs_and_roi(session: Session, duo: int) -> None:
    converter = Converter.load(session, "EUR")
    assert message_costs(session, converter) == {(duo,): Decimal("3.6400")}
    assert fixed_costs(session, converter) == {(duo,): Decimal("40.00")}
    row = campaign_roi(session, converter, Attribution("last-touch"))[0]
    money = row.economics
    assert (money.cost, money.revenue, money.conversions, money.leads) == (
        Decimal("43.6400"), Decimal("200.00"), 2, 1)
    assert cents(money.roi or 0) == Decimal("3.58")  # (200 − 43.64) / 43.64 = 3.5830
    assert cents(money.cost_per_acquisition or 0) == Decimal("21.82")
    assert cents(money.cost_per_lead or 0) == Decimal("43.64")
    assert row.budget_consumed == Decimal("0.4364")
    lines = {(line.channel, line.country): line for line in cost_breakdown(session, converter, campaign_id=duo)}
    assert lines[("mail", "BE")].cost == Decimal("3.0200") and lines[("mail", "BE")].per_message == Decimal("1.51")
    assert lines[("sms", None)].parts == 8 and lines[("sms", None)].per_part == Decimal("0.075")


def test_channel_roi_uses_variable_costs(session: Session, duo: int) -> None:
    converter = Converter.load(session, "EUR")
    channels = channel_roi(session, converter, Attribution("last-touch"))
    assert channels["email"].message_cost == Decimal("0.0200") and channels["email"].revenue == Decimal("200.00")
    assert channels["mail"].message_cost == Decimal("3.0200") and channels["mail"].fixed_cost == 0


def test_costs_in_other_currencies(session: Session) -> None:
    make_rate(session, currency="USD", rate="0.90", valid_from=T0 - timedelta(days=30))
    make_rate(session, currency="GBP", rate="1.15", valid_from=T0 - timedelta(days=30))
    campaign = make_campaign(session, name="usd", currency="USD", budget=Decimal("10.00"))
    contact = make_contact(session, email="u@example.com")
    make_message(session, campaign=campaign, contact=contact, sent_at=T0, cost=Decimal("1.0000"))
    make_cost(session, campaign=campaign, amount="10.00", currency="GBP", incurred_at=T0)
    converter = Converter.load(session, "EUR")
    assert message_costs(session, converter) == {(campaign.id,): Decimal("0.90")}
    assert fixed_costs(session, converter) == {(campaign.id,): Decimal("11.50")}
    row = campaign_roi(session, converter, Attribution())[0]
    assert row.budget == Decimal("9.00") and cents(row.budget_consumed or 0) == Decimal("1.38")  # 12.40 / 9.00


def test_exact_sums_of_many_small_costs(session: Session) -> None:
    campaign = make_campaign(session, name="many")
    people = _people(session, "p", 300)
    _send(session, campaign, people, cost=Decimal("0.0333"), sent_at=T0)
    session.commit()
    assert message_costs(session, Converter.load(session, "EUR")) == {(campaign.id,): Decimal("9.9900")}


def test_ab_winner_when_significant(session: Session) -> None:
    # A: 40 clickers of 200 sent, B: 20 of 200 → z = 2.80, p = 0.0051 < 0.05: A wins; machine clicks don't count.
    campaign = make_campaign(session, name="ab")
    a, b = make_variant(session, campaign=campaign, name="A"), make_variant(session, campaign=campaign, name="B")
    arm_a = _send(session, campaign, _people(session, "a", 200), variant_id=a.id, sent_at=SENT)
    arm_b = _send(session, campaign, _people(session, "b", 200), variant_id=b.id, sent_at=SENT)
    for message in arm_a[:40] + arm_b[:20]:
        make_event(session, type="email.clicked", message=message, commit=False, machine=False)
    for message in arm_b[100:160]:
        make_event(session, type="email.clicked", message=message, commit=False, machine=True)
    session.commit()
    result = ab_test(session, campaign.id, metric="clicked")
    assert [(arm.name, arm.successes, arm.sent) for arm in result.variants] == [("A", 40, 200), ("B", 20, 200)]
    assert result.winner == "A"
    loser = result.variants[1]
    assert loser.p_value_vs_leader == pytest.approx(0.005101, abs=1e-6)
    assert result.variants[0].probability_best > 0.99
    assert "variant A wins" in result.summary()


def test_ab_no_winner_when_not_significant(session: Session, duo: int) -> None:
    result = ab_test(session, duo, metric="clicked")
    assert {arm.name: (arm.successes, arm.sent) for arm in result.variants} == {"A": (3, 16), "B": (1, 10)}
    assert result.winner is None and "no significant winner" in result.summary()
    with pytest.raises(ValueError, match="unknown A/B metric"):
        ab_test(session, duo, metric="revenue")  # type: ignore[arg-type]


def test_the_response_cache_follows_new_events_sends_and_conversions(session: Session, duo: int) -> None:
    from reports.caches.engagement import rebuild, refresh

    before = funnels(session, campaign_id=duo)[(duo,)]
    session.commit()
    assert refresh(session).new_messages == 0  # nothing new: a read-only pass
    email_b = session.scalars(select(Message).where(Message.campaign_id == duo, Message.channel == "email",
                                                    Message.variant_id.is_not(None)).order_by(Message.id)).all()
    quiet = [message for message in email_b if message.id not in _engaged(session, duo)][:2]
    make_event(session, type="email.opened", message=quiet[0], occurred_at=SENT + timedelta(days=1), machine=False)
    make_event(session, type="email.clicked", message=quiet[0], occurred_at=SENT + timedelta(days=1), machine=False)
    make_conversion(session, contact=session.get(Contact, quiet[1].contact_id), amount="10.00",
                    occurred_at=SENT + timedelta(days=4))
    late = make_contact(session, email="late@example.com")
    campaign = session.get(Campaign, duo)
    make_message(session, campaign=campaign, contact=late, sent_at=SENT + timedelta(days=5), cost=Decimal("0.0010"))
    make_event(session, type="email.delivered", contact=late, commit=True)
    after = funnels(session, campaign_id=duo)[(duo,)]
    assert (after.opened, after.clicked, after.converted, after.sent) == (
        before.opened + 1, before.clicked + 1, before.converted + 1, before.sent + 1)
    session.commit()
    rebuild(session)
    session.commit()
    assert funnels(session, campaign_id=duo)[(duo,)].as_dict() == after.as_dict()


def _engaged(session: Session, campaign_id: int) -> set[str]:
    from core.models import Event

    return set(session.scalars(select(Event.message_id).where(
        Event.campaign_id == campaign_id, Event.type.in_(("email.opened", "email.clicked", "email.bounced")))))
