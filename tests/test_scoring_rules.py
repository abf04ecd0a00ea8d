"""Rule scoring: hand-computed decay and caps, negative points, score.changed only on change, lifecycle stages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts.timeline import NewEvent, record_events
from core import clock
from core.models import Contact, ContactEventStat, ContactTag, Conversion, Event, Tag
from scoring.lifecycle import advance_all
from scoring.plan import PlanError, load_plan, parse_plan
from scoring.rules import explain_rules, score_all
from tests.helpers import make_contact

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PLAN = parse_plan({
    "name": "test",
    "min_score": -100,
    "fit": [{"name": "france", "points": 10, "when": {"field": "country", "op": "eq", "value": "FR"}},
            {"points": 7, "when": {"field": "attributes.industry", "op": "eq", "value": "software"}}],
    "behaviour": [
        {"event": "email.clicked", "points": 5, "half_life": "30d", "cap": 25},
        {"event": "email.opened", "points": 1, "cap": 10},
        {"event": "form.submitted", "points": 20, "half_life": "10d", "where": {"form": "demo"}},
    ],
    "negative": [{"name": "competitor", "points": -100, "when": {"tag": "competitor"}},
                 {"name": "unsubscribed", "points": -30, "when": {"event": "email.unsubscribed"}}],
    "lifecycle": {"lead": {"score": 5}, "mql": {"score": 20}, "sql": {"score": 60}},
})


def _events(session: Session, contact: Contact, event_type: str, ages: list[float], **properties: object) -> None:
    record_events(session, [
        NewEvent(type=event_type, dedupe_key=f"{event_type}:{contact.id}:{index}:{age}", contact_id=contact.id,
                 occurred_at=NOW - timedelta(days=age), properties=dict(properties))
        for index, age in enumerate(ages)
    ])
    session.commit()


def _score_events(session: Session, contact_id: int) -> list[Event]:
    query = select(Event).where(Event.contact_id == contact_id, Event.type == "score.changed").order_by(Event.id)
    return list(session.scalars(query))


def test_decay_caps_fit_and_negative_points_are_hand_computed(session: Session) -> None:
    clock.freeze(NOW)
    hot = make_contact(session, email="hot@example.com", country="FR", attributes={"industry": "software"})
    _events(session, hot, "email.clicked", [0, 30, 60])  # 5 + 2.5 + 1.25 = 8.75
    _events(session, hot, "email.opened", [1] * 14)  # 14 opens, capped at 10
    _events(session, hot, "email.opened", [1, 2], machine=True)  # scanners: not counted
    _events(session, hot, "form.submitted", [10], form="demo")  # 20 × 0.5 = 10
    _events(session, hot, "form.submitted", [0], form="newsletter")  # other form: nothing
    rival = make_contact(session, email="rival@example.com", country="FR")
    tag = Tag(name="competitor")
    session.add(tag)
    session.flush()
    session.add(ContactTag(contact_id=rival.id, tag_id=tag.id))
    session.commit()
    _events(session, rival, "email.unsubscribed", [3])
    cold = make_contact(session, email="cold@example.com", country="DE")

    summary = score_all(session, PLAN, batch_size=2)
    session.expire_all()
    assert session.get(Contact, hot.id).score == round(10 + 7 + 8.75 + 10 + 10)  # 46
    assert session.get(Contact, rival.id).score == -100  # 10 - 100 - 30 = -120, floored at min_score
    assert session.get(Contact, cold.id).score == 0
    assert summary["changed"] == 2
    explained = explain_rules(session, PLAN, hot.id)
    assert {rule["rule"]: rule["points"] for rule in explained["rules"]} == {
        "fit: france": 10, "fit: attributes.industry eq software": 7, "behaviour: email.clicked": 8.75,
        "behaviour: email.opened": 10, "behaviour: form.submitted": 10,
    }
    assert explained["total"] == pytest.approx(45.75)


def test_capped_clicks_and_decay_over_time(session: Session) -> None:
    clock.freeze(NOW)
    clicker = make_contact(session, email="c@example.com")
    _events(session, clicker, "email.clicked", [0] * 8)  # 40 points, capped at 25
    score_all(session, PLAN)
    session.expire_all()
    assert session.get(Contact, clicker.id).score == 25
    clock.freeze(NOW + timedelta(days=90))  # 40 × 0.5³ = 5
    score_all(session, PLAN)
    session.expire_all()
    assert session.get(Contact, clicker.id).score == 5


def test_score_changed_only_on_change_with_history(session: Session) -> None:
    clock.freeze(NOW)
    contact = make_contact(session, email="a@example.com", country="FR")
    other = make_contact(session, email="b@example.com", country="FR")
    score_all(session, PLAN)
    score_all(session, PLAN)  # nothing changed: no new events
    assert [(e.properties["from"], e.properties["to"]) for e in _score_events(session, contact.id)] == [(0, 10)]
    _events(session, contact, "email.clicked", [0])
    score_all(session, PLAN)
    history = [(e.properties["from"], e.properties["to"], e.properties["plan"])
               for e in _score_events(session, contact.id)]
    assert history == [(0, 10, "test"), (10, 15, "test")]
    assert len(_score_events(session, other.id)) == 1
    stat = session.get(ContactEventStat, (contact.id, "score.changed"))
    assert stat is not None and stat.count == 2 and clock.utc(stat.last_at) == NOW


def test_erased_contacts_are_not_scored(session: Session) -> None:
    clock.freeze(NOW)
    gone = make_contact(session, email=None, country="FR", erased_at=NOW)
    score_all(session, PLAN)
    session.expire_all()
    assert session.get(Contact, gone.id).score == 0
    assert _score_events(session, gone.id) == []


def test_example_plan_loads_and_scores(session: Session) -> None:
    clock.freeze(NOW)
    make_contact(session, email="x@example.com", country="FR", job_title="Head of Sales")
    plan = load_plan(Path(__file__).parents[1] / "examples" / "scoring" / "plan.yaml")
    assert score_all(session, plan)["changed"] == 1
    assert session.scalar(select(Contact.score)) == 25


def test_bad_plans_name_the_problem() -> None:
    with pytest.raises(PlanError, match=r"fit\[0\]\.when"):
        parse_plan({"fit": [{"points": 3, "when": {"field": "no_such_field", "op": "eq", "value": 1}}]})
    with pytest.raises(PlanError, match="below zero"):
        parse_plan({"negative": [{"points": 5, "when": {"tag": "x"}}]})
    with pytest.raises(PlanError, match="duration"):
        parse_plan({"behaviour": [{"event": "email.opened", "points": 1, "half_life": "soon"}]})


def test_lifecycle_moves_forward_only_and_customers_stay(session: Session) -> None:
    clock.freeze(NOW)
    fresh = make_contact(session, email="fresh@example.com", score=25)
    customer = make_contact(session, email="customer@example.com", score=0, lifecycle_stage="customer")
    sql_lead = make_contact(session, email="sql@example.com", score=3, lifecycle_stage="sql")
    buyer = make_contact(session, email="buyer@example.com", score=0, lifecycle_stage="mql")
    partner = make_contact(session, email="partner@example.com", score=90, lifecycle_stage="partner")
    session.add(Conversion(contact_id=buyer.id, amount=Decimal(90), currency="EUR", occurred_at=NOW,
                           external_ref="order-1"))
    session.commit()
    summary = advance_all(session, PLAN.lifecycle)
    session.expire_all()
    stages = {c.email: c.lifecycle_stage for c in session.scalars(select(Contact))}
    assert stages == {"fresh@example.com": "mql", "customer@example.com": "customer", "sql@example.com": "sql",
                      "buyer@example.com": "customer", "partner@example.com": "partner"}
    assert summary["moved"] == 2
    changes = session.scalars(select(Event).where(Event.type == "stage.changed").order_by(Event.contact_id))
    assert [(e.contact_id, e.properties["from"], e.properties["to"]) for e in changes] == [
        (fresh.id, "subscriber", "mql"), (buyer.id, "mql", "customer")]
    assert advance_all(session, PLAN.lifecycle)["moved"] == 0  # idempotent
    assert {customer.id, sql_lead.id, partner.id}.isdisjoint(
        set(session.scalars(select(Event.contact_id).where(Event.type == "stage.changed"))))
