"""Journeys end to end on SQLite and PostgreSQL: triggers, sends on the campaigns' ledger, branches on engagement,
waits in local time, event wake-ups, goals and exits, updates, the timeline and the status table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core import clock
from core.models import Contact, ContactTag, Enrollment, Event, Tag
from core.settings import Settings
from journeys.status import journey_status
from tests.journeys.support import (
    advance,
    document,
    ledger,
    make_journey,
    message_of,
    people,
    record,
    step_log,
    submit_form,
    where_are,
)

MONDAY = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)  # 10:00 in Paris


def test_a_form_enrolls_and_the_journey_runs_to_its_end_exactly_once(engine: Engine, session: Session,
                                                                     settings: Settings) -> None:
    clock.freeze(MONDAY)
    journey = make_journey(session, settings, document())
    contacts = people(session, 6)
    submit_form(session, contacts[:4])
    first = advance(engine, settings, by=timedelta(minutes=1))
    assert first.journeys[0].enrolled == 4 and first.sent == 4
    assert where_are(session, journey) == {("pause", "active"): 4}
    again = advance(engine, settings, by=timedelta(minutes=1))  # nothing new: the same form is not read twice
    assert not again.busy
    clicker = contacts[0]
    record(session, clicker, "email.clicked", message_id=message_of(session, clicker, "welcome").id, url="x")
    advance(engine, settings, by=timedelta(days=2))
    assert where_are(session, journey) == {("tag", "completed"): 4}
    assert ledger(session, "nurture") == {("welcome", "email", "sent"): 4, ("case-study", "email", "sent"): 1,
                                          ("nudge", "sms", "sent"): 3}
    assert step_log(session, journey) == {("welcome", "pause"): 4, ("pause", "clicked"): 4,
                                          ("clicked", "case-study"): 1, ("clicked", "nudge"): 3,
                                          ("case-study", "tag"): 1, ("nudge", "tag"): 3, ("tag", None): 4}
    session.expire_all()
    assert session.get(Contact, clicker.id).score == 10  # type: ignore[union-attr]
    tagged = session.scalar(select(func.count()).select_from(ContactTag).join(Tag).where(Tag.name == "nurtured"))
    assert tagged == 4
    assert not advance(engine, settings, by=timedelta(days=3)).busy


def test_the_holdout_enrolls_but_receives_nothing(engine: Engine, session: Session, settings: Settings) -> None:
    clock.freeze(MONDAY)
    make_journey(session, settings, document(holdout=0.5))
    contacts = people(session, 40)
    submit_form(session, contacts)
    report = advance(engine, settings, by=timedelta(minutes=1))
    counts = ledger(session, "nurture")
    held, sent = counts[("welcome", "email", "held_out")], counts[("welcome", "email", "sent")]
    assert held + sent == 40 and 8 <= held <= 32 and report.sent == sent
    held_contacts = set(session.scalars(select(Enrollment.contact_id).where(Enrollment.held_out.is_(True))))
    assert len(held_contacts) == held


def test_events_of_the_journey_are_on_the_timeline_and_usable_in_segments(engine: Engine, session: Session,
                                                                          settings: Settings) -> None:
    from segments.service import count

    clock.freeze(MONDAY)
    make_journey(session, settings, document())
    contacts = people(session, 3)
    submit_form(session, contacts)
    advance(engine, settings, by=timedelta(minutes=1))
    advance(engine, settings, by=timedelta(days=2))
    kinds = dict(session.execute(select(Event.type, func.count()).where(Event.type.like("journey.%"))
                                 .group_by(Event.type)).tuples().all())
    assert kinds == {"journey.entered": 3, "journey.step": 3 * 4, "journey.exited": 3}  # the plain wait: none
    finished = {"event": "journey.exited", "where": {"journey": "nurture", "status": "completed"}}
    assert count(session, {"conditions": [finished]}) == 3
    nudged = {"event": "journey.step", "where": {"step": "nudge"}}
    assert count(session, {"conditions": [nudged]}) == 3


def test_a_conversion_while_waiting_ends_the_enrollment_at_once(engine: Engine, session: Session,
                                                                settings: Settings) -> None:
    clock.freeze(MONDAY)
    journey = make_journey(session, settings, document(goal={"event": "conversion"}))
    contacts = people(session, 3)
    submit_form(session, contacts)
    advance(engine, settings, by=timedelta(minutes=1))
    record(session, contacts[0], "conversion", at=clock.now(), amount=99)
    report = advance(engine, settings, by=timedelta(hours=1))  # the next tick, long before the wait ends
    assert report.journeys[0].finished == {"converted": 1}
    assert where_are(session, journey) == {("pause", "converted"): 1, ("pause", "active"): 2}
    advance(engine, settings, by=timedelta(days=2))
    assert where_are(session, journey) == {("pause", "converted"): 1, ("tag", "completed"): 2}
    assert sum(count for (step, _, _), count in ledger(session, "nurture").items() if step != "welcome") == 2
    status = journey_status(session, journey)
    assert status.converted == 1 and status.steps[1].converted == 1


def test_a_contact_who_unsubscribes_or_bounces_while_waiting_gets_nothing_more(engine: Engine, session: Session,
                                                                               settings: Settings) -> None:
    from contacts.consent import Proof, set_consent

    clock.freeze(MONDAY)
    make_journey(session, settings, document(steps=[
        {"id": "welcome", "send": {"channel": "email", "template": "welcome"}},
        {"id": "pause", "wait": "1d"},
        {"id": "again", "send": {"channel": "email", "template": "nurture-2"}}]))
    contacts = people(session, 3)
    submit_form(session, contacts)
    advance(engine, settings, by=timedelta(minutes=1))
    leaving, bouncing, staying = contacts
    set_consent(session, leaving.id, "email", "withdrawn", Proof(source="unsubscribe link"))
    session.get(Contact, bouncing.id).email_status = "invalid"  # type: ignore[union-attr]
    session.commit()
    advance(engine, settings, by=timedelta(days=1))
    session.expire_all()
    assert message_of(session, staying, "again").status == "sent"
    assert (message_of(session, leaving, "again").status, message_of(session, leaving, "again").reason) == (
        "excluded", "no_consent")
    assert message_of(session, bouncing, "again").status == "excluded"


def test_messages_queued_for_quiet_hours_are_cancelled_when_the_contact_unsubscribes(
        engine: Engine, session: Session, settings: Settings) -> None:
    from contacts.consent import Proof, set_consent

    clock.freeze(datetime(2026, 6, 1, 20, 0, tzinfo=UTC))  # 22:00 in Paris: SMS wait for 08:00
    make_journey(session, settings, document(steps=[
        {"id": "text", "send": {"channel": "sms", "template": "sms-offer"}}]))
    contacts = people(session, 2)
    submit_form(session, contacts)
    advance(engine, settings, by=timedelta(minutes=1))
    assert {message_of(session, person, "text").status for person in contacts} == {"queued"}
    set_consent(session, contacts[0].id, "sms", "withdrawn", Proof(source="STOP"))
    session.commit()
    advance(engine, settings, by=timedelta(hours=11))  # 09:01 in Paris
    assert message_of(session, contacts[0], "text").status == "cancelled"
    assert message_of(session, contacts[1], "text").status == "sent"
    sent_at = clock.utc(message_of(session, contacts[1], "text").sent_at)  # type: ignore[arg-type]
    assert sent_at >= datetime(2026, 6, 2, 6, 0, tzinfo=UTC)  # not before 08:00 Paris


def test_an_event_wait_wakes_within_one_tick_and_times_out_otherwise(engine: Engine, session: Session,
                                                                     settings: Settings) -> None:
    clock.freeze(MONDAY)
    journey = make_journey(session, settings, document(steps=[
        {"id": "welcome", "send": {"channel": "email", "template": "welcome"}},
        {"id": "watch", "wait": {"for_event": "email.clicked", "step": "welcome", "timeout": "3d",
                                 "on_event": "thanks", "on_timeout": "reminder"}},
        {"id": "reminder", "send": {"channel": "email", "template": "nurture-3"}, "goto": "done"},
        {"id": "thanks", "update": {"add_tags": ["engaged"]}},
        {"id": "done", "exit": True}]))
    contacts = people(session, 3)
    submit_form(session, contacts)
    advance(engine, settings, by=timedelta(minutes=1))
    record(session, contacts[0], "email.clicked", message_id=message_of(session, contacts[0], "welcome").id)
    record(session, contacts[1], "email.clicked")  # a click on another message: not what the wait listens for
    report = advance(engine, settings, by=timedelta(minutes=1))
    assert report.journeys[0].woken == 1
    assert where_are(session, journey) == {("done", "completed"): 1, ("watch", "active"): 2}
    advance(engine, settings, by=timedelta(days=3))
    assert where_are(session, journey) == {("done", "completed"): 3}
    assert step_log(session, journey)[("watch", "reminder")] == 2


def test_a_two_day_wait_across_the_dst_change_ends_at_the_same_local_time(engine: Engine, session: Session,
                                                                         settings: Settings) -> None:
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    clock.freeze(datetime(2026, 3, 27, 10, 0, tzinfo=paris))  # Friday 10:00 CET; Sunday 29 March is CEST
    journey = make_journey(session, settings, document(steps=[
        {"id": "pause", "wait": "2d"}, {"id": "text", "send": {"channel": "sms", "template": "sms-offer"}}]))
    contacts = people(session, 1) + people(session, 1, prefix="ny", timezone="America/New_York", segment="ny")
    submit_form(session, contacts)
    advance(engine, settings, by=timedelta(minutes=1))
    session.expire_all()
    due = {row.contact_id: clock.utc(row.due_at) for row in session.scalars(select(Enrollment))}
    assert due[contacts[0].id].astimezone(paris).replace(tzinfo=None) == datetime(2026, 3, 29, 10, 1)
    assert due[contacts[0].id] - clock.now() == timedelta(days=2, hours=-1)  # 47 hours of real time
    new_york = ZoneInfo("America/New_York")  # already on summer time there: a plain 48 hours
    assert due[contacts[1].id] - clock.now() == timedelta(days=2)
    assert due[contacts[1].id].astimezone(new_york).hour == clock.now().astimezone(new_york).hour
    advance(engine, settings, by=timedelta(days=2, hours=-1, seconds=-1))
    assert where_are(session, journey)[("pause", "active")] == 2
    advance(engine, settings, by=timedelta(seconds=1))
    assert where_are(session, journey)[("text", "completed")] == 1


def test_wait_until_a_local_time_on_weekdays(engine: Engine, session: Session, settings: Settings) -> None:
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    clock.freeze(datetime(2026, 6, 5, 18, 0, tzinfo=paris))  # a Friday evening
    make_journey(session, settings, document(steps=[
        {"id": "morning", "wait": {"until": "09:30", "weekdays": ["mon", "tue", "wed", "thu", "fri"]}},
        {"id": "hello", "send": {"channel": "email", "template": "welcome"}}]))
    submit_form(session, people(session, 1))
    advance(engine, settings, by=timedelta(minutes=1))
    session.expire_all()
    due = clock.utc(session.scalars(select(Enrollment.due_at)).one())  # type: ignore[arg-type]
    assert due.astimezone(paris).replace(tzinfo=None) == datetime(2026, 6, 8, 9, 30)  # Monday


def test_updates_set_fields_attributes_tags_score_and_stage(engine: Engine, session: Session,
                                                           settings: Settings) -> None:
    clock.freeze(MONDAY)
    make_journey(session, settings, document(steps=[{"id": "mark", "update": {
        "set": {"job_title": "Buyer", "attributes.nurtured": True, "attributes.audience_tag": None},
        "add_tags": ["warm", "demo"], "remove_tags": ["cold"], "score": 15, "lifecycle_stage": "mql"}}]))
    contacts = people(session, 2)
    from core.models import Tag as TagModel
    cold = TagModel(name="cold")
    session.add(cold)
    session.flush()
    session.add(ContactTag(contact_id=contacts[0].id, tag_id=cold.id))
    session.commit()
    submit_form(session, contacts)
    advance(engine, settings, by=timedelta(minutes=1))
    session.expire_all()
    person = session.get(Contact, contacts[0].id)
    assert person is not None
    assert (person.job_title, person.score, person.lifecycle_stage) == ("Buyer", 15, "mql")
    assert person.attributes.get("nurtured") is True and "audience_tag" not in person.attributes
    tags = set(session.scalars(select(Tag.name).join(ContactTag).where(ContactTag.contact_id == person.id)))
    assert tags == {"warm", "demo"}
    changes = session.scalars(select(Event.properties).where(Event.type == "stage.changed")).all()
    assert len(changes) == 2 and changes[0]["to"] == "mql" and changes[0]["from"] == "subscriber"


def test_a_split_sends_each_enrollment_down_one_arm_by_weight(engine: Engine, session: Session,
                                                             settings: Settings) -> None:
    clock.freeze(MONDAY)
    journey = make_journey(session, settings, document(steps=[
        {"id": "ab", "split": [{"weight": 3, "goto": "a"}, {"weight": 1, "goto": "b"}]},
        {"id": "a", "update": {"add_tags": ["a"]}, "goto": "done"},
        {"id": "b", "update": {"add_tags": ["b"]}},
        {"id": "done", "exit": True}]))
    submit_form(session, people(session, 80))
    advance(engine, settings, by=timedelta(minutes=1))
    log = step_log(session, journey)
    assert log[("ab", "a")] + log[("ab", "b")] == 80 and 45 <= log[("ab", "a")] <= 75


def test_re_entry_rules(engine: Engine, session: Session, settings: Settings) -> None:
    clock.freeze(MONDAY)
    steps = [{"id": "hello", "send": {"channel": "email", "template": "welcome"}}]
    never = make_journey(session, settings, document("never", steps=steps))
    always = make_journey(session, settings, document("always", steps=steps, re_entry="always"))
    later = make_journey(session, settings, document("later", steps=steps, re_entry={"after": "30d"}))
    person = people(session, 1)
    for days in (0, 10, 40):  # forms on day 0, day 10 and day 50
        clock.travel(timedelta(days=days))
        submit_form(session, person, at=clock.now())
        advance(engine, settings, by=timedelta(minutes=1))
    counts = {journey.name: session.scalar(select(func.count()).select_from(Enrollment)
                                           .where(Enrollment.journey_id == journey.id))
              for journey in (never, always, later)}
    assert counts == {"never": 1, "always": 3, "later": 2}


def test_a_rolled_back_batch_leaves_the_next_ones_working(engine: Engine, session: Session,
                                                          settings: Settings) -> None:
    from core.db import session_scope
    from core.models import JourneyVersion
    from journeys.batch import claim

    clock.freeze(MONDAY)
    journey = make_journey(session, settings, document())
    submit_form(session, people(session, 3))
    advance(engine, settings, by=timedelta(minutes=1), dispatch=False)
    version = session.scalars(select(JourneyVersion.id)).one()
    clock.travel(timedelta(days=2))
    for _ in range(3):  # the batch table is created in a transaction that is then rolled back, on the same connection
        with session_scope(engine) as own:
            assert claim(own, version, "pause", 10) == 3
            own.rollback()
    advance(engine, settings)
    assert where_are(session, journey)[("tag", "completed")] == 3
