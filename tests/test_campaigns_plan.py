"""Planning campaigns on both databases: exclusions by reason, fallback channels, deterministic holdout and variants,
one INSERT…SELECT ledger, quiet hours and local-time schedules, cost estimates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns import hashing
from campaigns.planner import plan_campaign
from contacts.consent import Proof, set_consent, suppress
from core import clock
from core.models import Message, Variant
from core.settings import Settings
from tests.campaign_support import make_audience, make_campaign, statuses


def test_dry_run_counts_exclusions_by_reason_and_writes_nothing(session: Session, settings: Settings) -> None:
    people = make_audience(session, 10)
    set_consent(session, people[0].id, "email", "withdrawn", Proof(source="test"))
    suppress(session, "email", people[1].email or "", "hard_bounce")
    people[2].email_status = "invalid"
    people[3].email = None
    session.commit()
    campaign = make_campaign(session)
    report = plan_campaign(session, settings, campaign, dry_run=True)
    assert report.audience == 10
    assert report.excluded == {"no_consent": 1, "suppressed": 1, "invalid_address": 2}
    assert report.to_send == 6 and report.per_channel == {"email": 6} and report.per_variant == {"A": 6}
    assert report.estimated_cost == 6 * Decimal("0.0009")
    assert report.samples and report.samples[0]["channel"] == "email" and "@" in report.samples[0]["to"]
    assert session.scalar(select(Message.id).limit(1)) is None
    assert campaign.status == "draft"


def test_real_plan_writes_the_ledger_once_with_deterministic_ids(session: Session, settings: Settings) -> None:
    people = make_audience(session, 20)
    campaign = make_campaign(session, holdout=0.25, variants=[{"name": "A", "template": "welcome", "weight": 3},
                                                              {"name": "B", "template": "newsletter", "weight": 1}])
    dry = plan_campaign(session, settings, campaign, dry_run=True)
    real = plan_campaign(session, settings, campaign, dry_run=False)
    session.commit()
    assert real.written == 20 and campaign.status == "sending"
    assert (dry.to_send, dry.held_out, dry.per_variant) == (real.to_send, real.held_out, real.per_variant)
    again = plan_campaign(session, settings, campaign, dry_run=False)
    assert again.written == 0 and again.to_send == real.to_send
    rows = {row.contact_id: row for row in session.scalars(select(Message).where(Message.campaign_id == campaign.id))}
    variants = {variant.id: variant.name for variant in session.scalars(select(Variant))}
    for person in people:  # the SQL agrees with the Python twins, on both databases
        row = rows[person.id]
        assert row.id == hashing.message_id(campaign.id, person.id)
        held = hashing.bucket(f"holdout:{campaign.id}", person.id) < hashing.threshold(0.25)
        assert (row.status == "held_out") == held
        if not held:
            expected = "A" if hashing.bucket(f"variant:{campaign.id}", person.id) < hashing.threshold(0.75) else "B"
            assert variants[row.variant_id] == expected


def test_holdout_and_variant_shares_follow_the_weights(session: Session, settings: Settings) -> None:
    make_audience(session, 600)
    campaign = make_campaign(session, holdout=0.1, variants=[{"name": "A", "template": "welcome", "weight": 1},
                                                             {"name": "B", "template": "newsletter", "weight": 1}])
    report = plan_campaign(session, settings, campaign, dry_run=True)
    assert 35 <= report.held_out <= 85  # 10 % of 600, within sampling noise
    assert abs(report.per_variant["A"] - report.per_variant["B"]) < 120


def test_fallback_picks_the_first_reachable_channel_per_contact(session: Session, settings: Settings) -> None:
    email_ok = make_audience(session, 3, channels=("email", "sms"), prefix="both")
    sms_only = make_audience(session, 2, channels=("sms",), prefix="sms")
    letter_only = make_audience(session, 2, channels=(), prefix="post", phone=None)
    nothing = make_audience(session, 1, channels=(), prefix="none", phone=None, address_line1=None)
    campaign = make_campaign(session, channel=["email", "sms", "mail"],
                             template={"email": "welcome", "sms": "sms-offer", "mail": "letter-offer"})
    plan_campaign(session, settings, campaign, dry_run=False)
    session.commit()
    rows = {row.contact_id: row for row in session.scalars(select(Message))}
    assert {rows[person.id].channel for person in email_ok} == {"email"}
    assert {rows[person.id].channel for person in sms_only} == {"sms"}
    assert {rows[person.id].channel for person in letter_only} == {"mail"}
    assert rows[nothing[0].id].status == "excluded" and rows[nothing[0].id].reason == "no_consent"
    assert statuses(session, campaign) == {"queued": 7, "excluded": 1}


def test_frequency_cap_counts_other_campaigns_messages(session: Session, settings: Settings) -> None:
    make_audience(session, 4)
    first = make_campaign(session, name="first")
    plan_campaign(session, settings, first, dry_run=False)
    session.commit()
    second = make_campaign(session, name="second", policies={"frequency_cap": {"email": {"max": 1, "days": 7}}})
    report = plan_campaign(session, settings, second, dry_run=True)
    assert report.excluded == {"capped": 4} and report.to_send == 0
    third = make_campaign(session, name="third", policies={"frequency_cap": {"email": {"max": 2, "days": 7}}})
    assert plan_campaign(session, settings, third, dry_run=True).to_send == 4


def test_sms_quiet_hours_defer_to_the_morning_in_the_contacts_timezone(session: Session, settings: Settings) -> None:
    make_audience(session, 2, channels=("sms",), prefix="paris", timezone="Europe/Paris")
    make_audience(session, 1, channels=("sms",), prefix="ny", timezone="America/New_York", country="US")
    campaign = make_campaign(session, channel="sms", template="sms-offer")
    with clock.frozen_at(datetime(2026, 3, 10, 22, 30, tzinfo=UTC)):  # 23:30 in Paris, 18:30 in New York
        report = plan_campaign(session, settings, campaign, dry_run=False)
        session.commit()
    assert report.deferred_by_quiet_hours == 2
    times = {row.contact_id: clock.utc(row.next_attempt_at) for row in session.scalars(select(Message))}
    assert sorted(times.values()) == [datetime(2026, 3, 10, 22, 30, tzinfo=UTC),
                                      datetime(2026, 3, 11, 7, 0, tzinfo=UTC), datetime(2026, 3, 11, 7, 0, tzinfo=UTC)]


def test_local_time_schedule_and_send_window(session: Session, settings: Settings) -> None:
    make_audience(session, 1, prefix="paris", timezone="Europe/Paris")
    make_audience(session, 1, prefix="tokyo", timezone="Asia/Tokyo")
    start = datetime(2026, 6, 1, 5, 0, tzinfo=UTC)  # 07:00 in Paris, 14:00 in Tokyo
    campaign = make_campaign(session, schedule={"at": start.isoformat(), "local_time": "09:00",
                                                "send_window_hours": 12})
    with clock.frozen_at(start - timedelta(hours=1)):
        plan_campaign(session, settings, campaign, dry_run=False)
        session.commit()
    rows = {row.contact_id: row for row in session.scalars(select(Message))}
    by_zone = {row.status: row for row in rows.values()}
    assert clock.utc(by_zone["queued"].next_attempt_at) == datetime(2026, 6, 1, 7, 0, tzinfo=UTC)  # 09:00 Paris
    assert by_zone["excluded"].reason == "quiet_hours"  # 09:00 in Tokyo is tomorrow, beyond the 12 h window


def test_test_phase_leaves_the_rest_waiting_for_the_winner(session: Session, settings: Settings) -> None:
    make_audience(session, 200)
    campaign = make_campaign(session, variants=[{"name": "A", "template": "welcome"},
                                                {"name": "B", "template": "newsletter"}],
                             test={"share": 0.2, "metric": "clicks", "wait": "2h"})
    report = plan_campaign(session, settings, campaign, dry_run=False)
    session.commit()
    counts = statuses(session, campaign)
    assert counts["queued"] + counts["waiting"] == 200 and 20 <= counts["queued"] <= 60
    assert report.waiting_for_winner == counts["waiting"]
    assert session.scalar(select(Message.id).where(Message.status == "waiting", Message.variant_id.is_not(None))) \
        is None


def test_preference_centre_pauses_and_topic_opt_outs_are_honoured(session: Session, settings: Settings) -> None:
    people = make_audience(session, 4)
    soon, past = clock.now() + timedelta(weeks=2), clock.now() - timedelta(days=1)
    people[0].attributes = {**people[0].attributes, "paused_until": soon.isoformat()}
    people[1].attributes = {**people[1].attributes, "paused_until": past.isoformat()}  # the break is over
    set_consent(session, people[2].id, "email", "withdrawn", Proof(source="preferences"), topic="newsletter")
    session.commit()
    newsletter = make_campaign(session, name="monthly", template="newsletter", topic="newsletter")
    report = plan_campaign(session, settings, newsletter, dry_run=True)
    assert report.excluded == {"paused_by_contact": 1, "topic_opt_out": 1} and report.to_send == 2
    offer = make_campaign(session, name="offer", topic="offers")  # another topic: only the pause applies
    assert plan_campaign(session, settings, offer, dry_run=True).excluded == {"paused_by_contact": 1}
