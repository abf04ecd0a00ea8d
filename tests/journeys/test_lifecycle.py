"""Journey lifecycle and the other triggers: segment entries, anniversaries at a local time, manual lists; pause,
resume and archive; a budget that pauses the journey; goals stated on the contact's record; preview and status."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core import clock
from core.models import Campaign, Contact, Enrollment, Event, Message
from core.settings import Settings
from journeys.diagram import flow_dot
from journeys.preview import preview
from journeys.service import (
    JourneyStateError,
    archive_journey,
    enroll_now,
    get_journey,
    pause_journey,
    resume_journey,
)
from journeys.status import journey_status
from journeys.triggers import keys_source
from segments.refresh import refresh_segment
from segments.service import create_segment
from tests.journeys.support import (
    advance,
    document,
    ledger,
    make_journey,
    message_of,
    people,
    record,
    submit_form,
    where_are,
)

START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
HELLO = [{"id": "hello", "send": {"channel": "email", "template": "welcome"}}]


def test_a_segment_trigger_enrolls_contacts_as_they_enter_it(engine: Engine, session: Session,
                                                             settings: Settings) -> None:
    clock.freeze(START)
    contacts = people(session, 4)
    create_segment(session, "scored", {"conditions": [{"score": {"gte": 50}}]})
    session.commit()
    journey = make_journey(session, settings, document(trigger={"segment": "scored"}, steps=HELLO))
    for contact in contacts[:2]:
        session.get(Contact, contact.id).score = 60  # type: ignore[union-attr]
    session.commit()
    clock.travel(timedelta(minutes=1))
    refresh_segment(session, "scored")
    session.commit()
    advance(engine, settings, by=timedelta(minutes=1))
    assert where_are(session, journey) == {("hello", "completed"): 2}


def test_include_members_enrolls_the_segment_when_first_published(engine: Engine, session: Session,
                                                                  settings: Settings) -> None:
    clock.freeze(START)
    people(session, 3)
    journey = make_journey(session, settings, document(trigger={"segment": "audience", "include_members": True},
                                                       steps=HELLO))
    assert where_are(session, journey) == {("hello", "active"): 3}


def test_an_anniversary_enrolls_once_a_year_at_the_local_time(engine: Engine, session: Session,
                                                              settings: Settings) -> None:
    paris = ZoneInfo("Europe/Paris")
    clock.freeze(datetime(2026, 6, 1, 7, 0, tzinfo=paris))
    born = people(session, 1, birth_date=date(1990, 6, 1))
    people(session, 1, prefix="other", segment="other", birth_date=date(1990, 6, 2))
    tokyo = people(session, 1, prefix="tokyo", segment="tokyo", timezone="Asia/Tokyo", birth_date=date(1985, 6, 1))
    journey = make_journey(session, settings, document(trigger={"date": "birth_date", "at": "09:00"}, steps=HELLO))
    advance(engine, settings)  # 07:00 in Paris, 14:00 in Tokyo: only Tokyo's morning has come
    session.expire_all()
    assert [row.contact_id for row in session.scalars(select(Enrollment))] == [tokyo[0].id]
    advance(engine, settings, by=timedelta(hours=2, minutes=1))
    assert where_are(session, journey) == {("hello", "completed"): 2}
    assert {row.contact_id for row in session.scalars(select(Enrollment))} == {born[0].id, tokyo[0].id}
    advance(engine, settings, by=timedelta(hours=6))  # same day: nobody again
    advance(engine, settings, by=timedelta(days=365))  # next year
    assert session.scalar(select(func.count()).select_from(Enrollment)) == 4


def test_pause_holds_everything_and_resume_catches_up(engine: Engine, session: Session, settings: Settings) -> None:
    clock.freeze(START)
    journey = make_journey(session, settings, document(steps=HELLO))
    pause_journey(session, journey, "checking the copy")
    session.commit()
    with pytest.raises(JourneyStateError, match="only a live journey"):
        pause_journey(session, journey)
    submit_form(session, people(session, 2))
    report = advance(engine, settings, by=timedelta(minutes=1))
    assert report.journeys == [] and where_are(session, journey) == {}
    resume_journey(session, get_journey(session, "nurture"))
    session.commit()
    advance(engine, settings, by=timedelta(minutes=1))
    assert where_are(session, journey) == {("hello", "completed"): 2}


def test_archive_ends_enrollments_and_cancels_unsent_messages(engine: Engine, session: Session,
                                                              settings: Settings) -> None:
    clock.freeze(datetime(2026, 6, 1, 20, 0, tzinfo=UTC))  # SMS wait for the morning
    journey = make_journey(session, settings, document(steps=[
        {"id": "text", "send": {"channel": "sms", "template": "sms-offer"}}, {"id": "pause", "wait": "1d"},
        {"id": "hello", "send": {"channel": "email", "template": "welcome"}}]))
    contacts = people(session, 3)
    submit_form(session, contacts)
    advance(engine, settings, by=timedelta(minutes=1))
    assert archive_journey(session, get_journey(session, "nurture")) == 3
    session.commit()
    assert where_are(session, journey) == {("pause", "exited"): 3}
    assert ledger(session, "nurture") == {("text", "sms", "cancelled"): 3}
    exits = session.scalars(select(Event.properties).where(Event.type == "journey.exited")).all()
    assert [item["reason"] for item in exits] == ["archived"] * 3
    assert not advance(engine, settings, by=timedelta(days=2)).busy


def test_the_budget_pauses_the_journey_before_it_overspends(engine: Engine, session: Session,
                                                           settings: Settings) -> None:
    clock.freeze(START)
    journey = make_journey(session, settings, document(budget=1, costs={"per_message": "0.40"}, steps=[
        {"id": "one", "send": {"channel": "email", "template": "welcome"}}, {"id": "pause", "wait": "1d"},
        {"id": "two", "send": {"channel": "email", "template": "nurture-2"}}]))
    submit_form(session, people(session, 2))
    advance(engine, settings, by=timedelta(minutes=1))  # 2 × 0.40 = 0.80 spent
    report = advance(engine, settings, by=timedelta(days=1))
    assert report.journeys[0].paused is not None and "budget reached" in report.journeys[0].paused
    session.expire_all()
    assert get_journey(session, "nurture").status == "paused"
    assert where_are(session, journey) == {("two", "active"): 2}  # waiting at the send step, nothing lost
    assert ("two", "email", "sent") not in ledger(session, "nurture")


def test_a_step_campaign_that_pauses_itself_pauses_its_journey(engine: Engine, session: Session,
                                                              settings: Settings) -> None:
    clock.freeze(START)
    make_journey(session, settings, document(steps=HELLO))
    step = session.scalars(select(Campaign).where(Campaign.kind == "journey")).one()
    step.status, step.status_reason = "paused", "error rate 60 % > 20 %"
    session.commit()
    report = advance(engine, settings, by=timedelta(minutes=1))
    assert "error rate 60 %" in (report.journeys[0].paused or "")
    session.expire_all()
    assert get_journey(session, "nurture").status == "paused"


def test_a_goal_on_the_contact_record_and_an_exit_event(engine: Engine, session: Session,
                                                        settings: Settings) -> None:
    clock.freeze(START)
    journey = make_journey(session, settings, document(
        goal={"lifecycle_stage": "customer"}, exit_when=[{"reason": "moved away", "if": {"event": "address.moved"}}],
        steps=[*HELLO, {"id": "pause", "wait": "3d"}, {"id": "again", "send": {"channel": "email",
                                                                                "template": "nurture-2"}}]))
    contacts = people(session, 3)
    session.get(Contact, contacts[2].id).lifecycle_stage = "customer"  # type: ignore[union-attr]
    session.commit()
    submit_form(session, contacts)
    advance(engine, settings, by=timedelta(minutes=1))
    assert session.scalar(select(func.count()).select_from(Enrollment)) == 2  # already a customer: not enrolled
    session.get(Contact, contacts[0].id).lifecycle_stage = "customer"  # type: ignore[union-attr]
    session.commit()
    record(session, contacts[0], "stage.changed", **{"from": "lead", "to": "customer"})
    record(session, contacts[1], "address.moved")
    advance(engine, settings, by=timedelta(minutes=1))
    assert where_are(session, journey) == {("pause", "converted"): 1, ("pause", "exited"): 1}
    status = journey_status(session, journey)
    assert status.finished == {"converted": 1, "exited": 1} and status.exit_reasons == {"moved away": 1}


def test_preview_shows_the_path_and_why(engine: Engine, session: Session, settings: Settings) -> None:
    clock.freeze(START)
    journey = make_journey(session, settings, document())
    contacts = people(session, 2)
    submit_form(session, contacts)
    advance(engine, settings, by=timedelta(minutes=1))
    record(session, contacts[0], "email.clicked", message_id=message_of(session, contacts[0], "welcome").id)
    clicked = preview(session, settings, journey, session.get(Contact, contacts[0].id))  # type: ignore[arg-type]
    other = preview(session, settings, journey, session.get(Contact, contacts[1].id))  # type: ignore[arg-type]
    steps = [line.step for line in clicked.path]
    assert steps == ["welcome", "pause", "clicked", "case-study", "tag", "end"]
    assert [line.step for line in other.path] == ["welcome", "pause", "clicked", "nudge", "tag", "end"]
    branch = next(line for line in clicked.path if line.step == "clicked")
    assert "was clicked): yes" in branch.why
    nudge = next(line for line in other.path if line.step == "nudge")
    assert nudge.what.startswith("sms:")
    assert clicked.path[1].at == START + timedelta(minutes=1)
    assert "until" in clicked.path[1].why and "CEST" in clicked.path[1].why


def test_status_counts_and_the_flow_diagram(engine: Engine, session: Session, settings: Settings) -> None:
    clock.freeze(START)
    journey = make_journey(session, settings, document(goal={"event": "conversion"}))
    contacts = people(session, 4)
    submit_form(session, contacts)
    advance(engine, settings, by=timedelta(minutes=1))
    record(session, contacts[0], "conversion")
    advance(engine, settings, by=timedelta(days=2))
    status = journey_status(session, journey)
    rows = {row.step: row for row in status.steps}
    assert rows["welcome"].passed == 4 and rows["welcome"].sent == 4
    assert rows["pause"].converted == 1 and rows["nudge"].sent == 3
    assert status.finished == {"converted": 1, "completed": 3}
    assert ("pause", "goal", 1) in status.edges and ("clicked", "nudge", 3) in status.edges
    assert ("tag", "end", 3) in status.edges
    dot = flow_dot(status)
    assert dot.startswith("digraph journey") and '"clicked" -> "nudge" [label="3 (else)"' in dot
    assert '"pause" -> "goal" [label="1"' in dot


def test_manual_enrollment_from_a_list(engine: Engine, session: Session, settings: Settings) -> None:
    clock.freeze(START)
    journey = make_journey(session, settings, document(trigger="manual", steps=HELLO))
    contacts = people(session, 3)
    keys = [contacts[0].email or "", str(contacts[1].id), "nobody@example.org"]
    assert enroll_now(session, settings, journey, keys_source(keys, "manual:1")) == 2
    assert enroll_now(session, settings, journey, keys_source(keys, "manual:2")) == 0  # re_entry: never
    session.commit()
    advance(engine, settings, by=timedelta(minutes=1))
    assert where_are(session, journey) == {("hello", "completed"): 2}
    assert session.scalar(select(func.count()).select_from(Message)) == 2
