"""A small company with campaigns, responses, money, segments and scores, for the dashboard tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from core import clock
from core.models import Contact, ScoringModel, Segment, SegmentMembership, SegmentSnapshot
from core.users import add_user
from tests.helpers import (
    make_campaign,
    make_contact,
    make_conversion,
    make_cost,
    make_event,
    make_message,
    make_variant,
)

PASSWORD = "correct horse battery"
DECILES = [{"decile": tenth, "contacts": 10, "converters": max(0, 6 - tenth), "rate": max(0, 6 - tenth) / 10,
            "lift": max(0, 6 - tenth) / 1.5, "capture": min(1.0, tenth * 0.25)} for tenth in range(1, 11)]


@dataclass(frozen=True)
class Seeded:
    """Names the tests look for."""

    campaign: str = "spring-sale"
    sms_campaign: str = "sms-flash"
    segment: str = "loyal"
    focus_email: str = "lea.martin@example.fr"


def _contacts(session: Session, prefix: str, count: int, **fields: object) -> list[Contact]:
    people = [make_contact(session, email=f"{prefix}{index}@example.fr", commit=False, first_name=prefix.title(),
                           last_name=f"N{index}", **fields) for index in range(count)]
    session.flush()
    return people


def _spring(session: Session, segment: Segment) -> None:
    """Email A/B with a 20 % holdout: A 20 sent (8 clickers), B 20 sent (2 clickers), 10 held out; 6 buyers."""
    start = clock.now() - timedelta(days=10)
    campaign = make_campaign(session, name=Seeded.campaign, channels=["email"], holdout=0.2, budget=Decimal("50.00"),
                             segment_id=segment.id, started_at=start, commit=False)
    arms = [make_variant(session, campaign=campaign, name=name, commit=False) for name in ("A", "B")]
    people = _contacts(session, "spring", 50)
    sent = start + timedelta(hours=1)
    messages = [make_message(session, campaign=campaign, contact=person, commit=False, sent_at=sent,
                             status="delivered", variant_id=arms[index % 2].id, cost=Decimal("0.0050"),
                             provider="sendgrid") for index, person in enumerate(people[:40])]
    for person in people[40:]:
        make_message(session, campaign=campaign, contact=person, commit=False, status="held_out")
    for index, message in enumerate(messages):
        make_event(session, type="email.delivered", message=message, occurred_at=sent + timedelta(minutes=5),
                   commit=False)
        if index < 16:
            make_event(session, type="email.opened", message=message, occurred_at=sent + timedelta(hours=2),
                       commit=False, machine=index % 5 == 4)
        if (index % 2 == 0 and index < 16) or index in (1, 3):
            make_event(session, type="email.clicked", message=message, occurred_at=sent + timedelta(hours=3),
                       commit=False, machine=False, url="https://shop.example.fr/")
    for index, amount in ((0, "120.00"), (2, "80.00"), (4, "45.50"), (1, "60.00")):
        make_conversion(session, contact=people[index], amount=amount, occurred_at=sent + timedelta(days=2),
                        commit=False)
    for index in (40, 41):
        make_conversion(session, contact=people[index], amount="30.00", occurred_at=sent + timedelta(days=3),
                        commit=False)
    make_cost(session, campaign=campaign, amount="25.00", category="creative", incurred_at=start, commit=False)


def _sms(session: Session) -> None:
    start = clock.now() - timedelta(days=4)
    campaign = make_campaign(session, name=Seeded.sms_campaign, channels=["sms"], started_at=start, commit=False)
    for index, person in enumerate(_contacts(session, "flash", 10, phone=None)):
        message = make_message(session, campaign=campaign, contact=person, commit=False, channel="sms",
                               sent_at=start, cost=Decimal("0.0750"), parts=1, provider="twilio")
        make_event(session, type="sms.delivered" if index < 9 else "sms.failed", message=message,
                   occurred_at=start + timedelta(minutes=1), commit=False)
        if index < 2:
            make_conversion(session, contact=person, amount="19.90", occurred_at=start + timedelta(days=1),
                            commit=False)


def _segment(session: Session) -> Segment:
    segment = Segment(name=Seeded.segment, kind="static", size=3, refreshed_at=clock.now(),
                      description="customers who bought twice")
    session.add(segment)
    session.flush()
    for days, size in ((20, 1), (10, 2), (1, 3)):
        session.add(SegmentSnapshot(segment_id=segment.id, measured_at=clock.now() - timedelta(days=days), size=size,
                                    entered=1, exited=0))
    return segment


def _scores(session: Session, segment: Segment) -> None:
    focus = make_contact(session, email=Seeded.focus_email, first_name="Léa", last_name="Martin",
                         company="Atelier Martin", lifecycle_stage="mql", score=72, predicted_score=0.83, grade="A",
                         commit=False,
                         score_reasons=[{"reason": "clicked 4 emails in 30 days"}, {"reason": "industry = software"}])
    others = [make_contact(session, email=f"lead{index}@example.fr", score=index * 9, predicted_score=index / 12,
                           grade="B" if index > 5 else "C", lifecycle_stage="lead", commit=False) for index in range(8)]
    session.flush()
    for person in (focus, *others[:2]):
        session.add(SegmentMembership(segment_id=segment.id, contact_id=person.id))
    make_event(session, type="form.submitted", contact=focus, occurred_at=clock.now() - timedelta(days=3),
               commit=False, form="demo-request")
    session.add(ScoringModel(version=1, kind="gradient-boosting", params={}, artefact=b"-", sklearn_version="test",
                             sha256="0" * 64, active=True, metrics={
                                 "roc_auc": 0.812, "pr_auc": 0.433, "brier": 0.0712, "brier_skill": 0.21,
                                 "base_rate": 0.1, "deciles": DECILES}))


def seed(session: Session, *, users: bool = True) -> Seeded:
    """Build everything and commit; users ana (admin), marc (marketer), vera (viewer) share PASSWORD."""
    segment = _segment(session)
    _sms(session)
    _spring(session, segment)  # the newest: the campaign pages open on it
    _scores(session, segment)
    if users:
        for name, role in (("ana", "admin"), ("marc", "marketer"), ("vera", "viewer")):
            add_user(session, name, role, PASSWORD)
    session.commit()
    return Seeded()
