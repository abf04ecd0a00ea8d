"""The report caches kept incrementally equal what a rebuild makes, and their daily sums give the same figures as
the rows themselves — after new sends, events, conversions, lead forms, STOPs, ledger changes, a merge and a
change of attribution window, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from contacts.merge import merge_contacts
from core.models import Campaign, Contact, Message
from core.models.reports import LedgerDay, MessageStat, SendDay, Touch
from reports.attribution import DIMENSIONS, Attribution, Period, attribute_all
from reports.caches.engagement import backlog, ensure_fresh, rebuild, refresh
from reports.costs import _MESSAGE_KEYS, _message_scope, message_costs, message_sums
from reports.funnel import funnels
from reports.money import Converter
from reports.overview import daily_trends, day_range
from tests.helpers import (
    make_campaign,
    make_contact,
    make_conversion,
    make_event,
    make_message,
    make_rate,
    make_variant,
)

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def at(days: float, hours: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours)


def _people(session: Session, prefix: str, count: int, **fields: Any) -> list[Contact]:
    people = [make_contact(session, email=f"{prefix}{index}@example.org", commit=False, **fields)
              for index in range(count)]
    session.flush()
    return people


class World:
    """Three campaigns (email A/B in EUR, SMS in EUR, letters in USD) and their responses."""

    def __init__(self, session: Session) -> None:
        self.session = session
        make_rate(session, currency="USD", rate="0.9000", valid_from=at(-60), commit=False)
        self.mail = make_campaign(session, name="mail-a", channels=["email"], started_at=at(-1), commit=False)
        self.arms = [make_variant(session, campaign=self.mail, name=name, commit=False) for name in ("A", "B")]
        self.sms = make_campaign(session, name="sms-b", channels=["sms"], started_at=at(2), commit=False)
        self.post = make_campaign(session, name="post-c", channels=["mail"], currency="USD", started_at=at(3),
                                  commit=False)
        self.people = _people(session, "p", 14) + _people(session, "s", 4, phone="+33612345678") + \
            _people(session, "l", 3, country="BE")
        self.messages: dict[str, Message] = {}
        self._ledger()
        self._responses()
        session.commit()

    def send(self, key: str, campaign: Campaign, person: Contact, **fields: Any) -> Message:
        fields.setdefault("created_at", at(-1, 3))
        message = make_message(self.session, campaign=campaign, contact=person, commit=False, **fields)
        self.messages[key] = message
        return message

    def _ledger(self) -> None:
        people = self.people
        for index in range(8):  # two send days, planned the day before
            self.send(f"e{index}", self.mail, people[index], variant_id=self.arms[index % 2].id,
                      sent_at=at(index // 4, index), cost=Decimal("0.0012"), provider="sendgrid", status="delivered")
        for index in (8, 9):
            self.send(f"h{index}", self.mail, people[index], status="held_out")
        self.send("x10", self.mail, people[10], status="excluded", reason="no_consent")
        self.send("q11", self.mail, people[11], status="queued", variant_id=self.arms[1].id)
        self.send("w12", self.mail, people[12], status="waiting")
        self.send("q13", self.mail, people[13], status="queued", variant_id=self.arms[0].id)
        for index in range(4):
            self.send(f"s{index}", self.sms, people[14 + index], channel="sms", sent_at=at(2, index),
                      cost=Decimal("0.1500"), parts=2, provider="twilio", created_at=at(2))
        for index in range(3):
            self.send(f"l{index}", self.post, people[18 + index], channel="mail", sent_at=at(3), provider="letters",
                      cost=Decimal("1.2100"), created_at=at(2, 20))

    def event(self, kind: str, key: str, when: datetime, **properties: Any) -> None:
        make_event(self.session, type=kind, message=self.messages[key], occurred_at=when, commit=False, **properties)

    def _responses(self) -> None:
        people = self.people
        for index in range(8):
            self.event("email.delivered" if index != 7 else "email.bounced", f"e{index}", at(0, 9))
        for key, machine in (("e0", False), ("e1", False), ("e2", True), ("e3", False), ("e0", False)):
            self.event("email.opened", key, at(0, 10), machine=machine)
        self.event("email.clicked", "e0", at(0, 11), machine=False)
        self.event("email.clicked", "e3", at(0, 11), machine=True)
        self.event("email.unsubscribed", "e1", at(0, 12))
        self.event("email.complained", "e5", at(1, 12))
        for index in range(3):
            self.event("sms.delivered", f"s{index}", at(2, 1))
        self.event("sms.failed", "s3", at(2, 1))
        self.event("mail.returned", "l0", at(8))
        make_event(self.session, type="sms.received", contact=people[15], occurred_at=at(4), commit=False,
                   keyword="opt_out")
        make_event(self.session, type="form.submitted", contact=people[2], occurred_at=at(5), commit=False,
                   form="demo")
        bought = ((people[0], "120.00", at(3), "EUR"), (people[1], "80.00", at(45), "EUR"),
                  (people[3], "45.50", at(-3), "EUR"), (people[14], "19.90", at(6), "EUR"),
                  (people[18], "60.00", at(10), "USD"), (people[7], "30.00", at(2), "EUR"))
        for person, amount, when, currency in bought:
            make_conversion(self.session, contact=person, amount=amount, occurred_at=when, currency=currency,
                            commit=False)


@pytest.fixture
def world(session: Session) -> Iterator[World]:
    yield World(session)


PERIODS = (None, day_range(at(0).date(), at(4).date()), day_range(at(1).date(), at(60).date()),
           Period(until=datetime.combine(at(2).date(), datetime.min.time(), tzinfo=UTC)),
           Period(since=at(0, 5), until=at(2, 2)))  # the last one cuts days: answered from the rows


def _funnels_agree(session: Session, world: World, window: float) -> None:
    for period in PERIODS:
        for by, campaign_id in ((("campaign",), None), (("channel",), None), (("variant", "channel"), world.mail.id),
                                (("variant",), world.mail.id), (("campaign",), world.sms.id)):
            summed = funnels(session, by=by, campaign_id=campaign_id, period=period, window_days=window)  # type: ignore[arg-type]
            rows = funnels(session, by=by, campaign_id=campaign_id, period=period, window_days=window,  # type: ignore[arg-type]
                           daily_sums=False)
            assert {key: value.as_dict() for key, value in summed.items()} == \
                {key: value.as_dict() for key, value in rows.items()}, (by, campaign_id, period)


def _money_agrees(session: Session) -> None:
    converter = Converter.load(session, "EUR")
    for period in PERIODS:
        for by in (("campaign",), ("channel",), ("variant",), ("provider",), ("campaign", "channel")):
            assert message_costs(session, converter, by=by, period=period) == message_sums(
                session, converter, keys=[_MESSAGE_KEYS[name] for name in by], where=_message_scope(None, period))
    trends = daily_trends(session, converter, day_range(at(-2).date(), at(5).date()))
    sent = {row["day"]: row["sent"] for row in trends if row["sent"]}
    expected: dict[str, int] = {}
    for sent_at in session.scalars(select(MessageStat.sent_at)):
        expected[sent_at.date().isoformat()] = expected.get(sent_at.date().isoformat(), 0) + 1
    assert sent == {day: count for day, count in expected.items() if at(-2).date().isoformat() <= day
                    <= at(5).date().isoformat()}


def _credits_agree(session: Session, world: World, window: float) -> None:
    converter = Converter.load(session, "EUR")
    rules = Attribution(window_days=window, half_life_days=3.0)
    for dimension in DIMENSIONS:
        for period in PERIODS[:3]:
            for campaign_id in (None, world.mail.id):
                cached = attribute_all(session, converter, rules, by=dimension, period=period, campaign_id=campaign_id)
                rows = attribute_all(session, converter, rules, by=dimension, period=period, campaign_id=campaign_id,
                                     cached=False)
                assert cached == rows, (dimension, period, campaign_id)


def _snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC).replace(tzinfo=None)
        if isinstance(value, Decimal):
            return value.normalize()
        return value

    return {model.__tablename__: sorted((tuple(plain(value) for value in row) for row in
                                         session.execute(select(model.__table__)).all()), key=repr)
            for model in (MessageStat, SendDay, LedgerDay, Touch)}


def _check(session: Session, world: World, window: float = 30.0) -> None:
    """Figures agree both ways, then what was kept incrementally equals a rebuild."""
    _funnels_agree(session, world, window)
    _money_agrees(session)
    _credits_agree(session, world, window)
    session.commit()
    kept = _snapshot(session)
    rebuild(session, window)
    session.commit()
    assert _snapshot(session) == kept


def test_the_caches_follow_every_change_and_equal_a_rebuild(session: Session, world: World) -> None:
    assert backlog(session) == 15  # nothing summarised yet
    first = refresh(session)
    assert (first.new_messages, backlog(session)) == (15, 0)
    _check(session, world)
    people, event = world.people, world.event
    # Responses: a quiet message opened, a touched message bounces (its touch and conversion go), an earlier
    # conversion, one far outside the window, a lead form, a STOP; a machine click changes nothing.
    event("email.delivered", "e7", at(1))  # after its bounce: still bounced
    event("email.opened", "e4", at(1, 2), machine=False)
    event("email.bounced", "e0", at(1, 3))
    event("email.clicked", "e6", at(1, 4), machine=True)
    make_conversion(session, contact=people[2], amount="15.00", occurred_at=at(0, 20), commit=False)
    make_conversion(session, contact=people[4], amount="9.00", occurred_at=at(80), commit=False)
    make_event(session, type="form.submitted", contact=people[5], occurred_at=at(2), commit=False, form="demo")
    make_event(session, type="sms.received", contact=people[16], occurred_at=at(3), commit=False, keyword="opt_out")
    session.commit()
    _check(session, world)
    # The ledger moves: a queued message goes out, the plan adds rows, the A/B winner takes the waiting row,
    # quiet hours exclude one.
    ids = {key: message.id for key, message in world.messages.items()}
    session.execute(update(Message).where(Message.id == ids["q11"]).values(
        status="sent", sent_at=at(4, 5), cost=Decimal("0.0012"), provider="sendgrid"))
    late = make_contact(session, email="late@example.org")
    world.send("n0", world.mail, late, status="queued", variant_id=world.arms[0].id, created_at=at(4))
    session.execute(update(Message).where(Message.id == ids["w12"]).values(status="queued",
                                                                           variant_id=world.arms[1].id))
    session.execute(update(Message).where(Message.id == ids["q13"]).values(status="excluded", reason="quiet_hours",
                                                                           variant_id=None))
    session.commit()
    event("email.delivered", "q11", at(4, 6))
    make_conversion(session, contact=people[11], amount="42.00", occurred_at=at(6), commit=False)
    session.commit()
    _check(session, world)
    # Two contacts merged: the survivor takes the other's message and conversion.
    merge_contacts(session, people[14].id, people[3].id, actor="test")
    session.commit()
    _check(session, world)
    # Another attribution window: daily sums and touches are made again for it, and back.
    _check(session, world, window=10.0)
    _check(session, world, window=30.0)


def test_a_refresh_with_nothing_new_writes_nothing(session: Session, world: World) -> None:
    refresh(session)
    session.commit()
    kept = _snapshot(session)
    done = refresh(session)
    assert (done.new_messages, done.skipped, done.window_days) == (0, False, 30.0)
    assert not session.new and not session.dirty
    session.commit()
    assert _snapshot(session) == kept


def test_a_window_asked_for_in_the_same_transaction_is_switched_to(session: Session, world: World) -> None:
    assert ensure_fresh(session, 30.0)
    assert ensure_fresh(session)  # any window
    assert ensure_fresh(session, 7.0)  # switched: daily sums and touches made again for 7 days
    _credits_agree(session, world, 7.0)
    _funnels_agree(session, world, 7.0)
    session.commit()
    assert refresh(session).window_days == 7.0  # what the caches now hold
