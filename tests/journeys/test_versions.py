"""Versions: publishing freezes the draft; contacts stay on the version they entered unless `--migrate` maps them;
a removed step must be mapped; publishing v2 while 1,000 contacts wait re-runs no step and the new step sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core import clock
from core.models import Enrollment, EnrollmentStep, JourneyVersion, Message
from core.settings import Settings
from journeys.service import JourneyStateError, get_journey, save_draft
from journeys.versions import parse_mapping, publish
from tests.campaign_support import bulk_audience
from tests.journeys.support import advance, ledger, make_journey, step_log, submit_form, where_are

START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
V1 = {"name": "waves", "trigger": {"segment": "bulk", "include_members": True}, "steps": [
    {"id": "welcome", "send": {"channel": "email", "template": "welcome"}},
    {"id": "pause", "wait": "3d"},
    {"id": "follow-up", "send": {"channel": "email", "template": "nurture-2"}}]}


def _v2(*, drop_pause: bool = False) -> dict[str, object]:
    steps = [{"id": "welcome", "send": {"channel": "email", "template": "welcome"}},
             {"id": "pause", "wait": "3d"},
             {"id": "new-step", "send": {"channel": "email", "template": "nurture-3"}},
             {"id": "follow-up", "send": {"channel": "email", "template": "nurture-2"}}]
    if drop_pause:
        steps = [steps[0], {"id": "short-pause", "wait": "1d"}, *steps[2:]]
    return {**V1, "steps": steps}


def test_publishing_v2_while_1000_wait_reruns_nothing_and_mapped_ones_continue_on_v2(
        engine: Engine, session: Session, settings: Settings) -> None:
    clock.freeze(START)
    bulk_audience(session, 1000)
    journey = make_journey(session, settings, V1)
    advance(engine, settings, by=timedelta(minutes=1))
    assert where_are(session, journey) == {("pause", "active"): 1000}
    clock.travel(timedelta(days=1))
    save_draft(session, _v2(), actor="test")
    result = publish(session, settings, get_journey(session, "waves"), migrate=parse_mapping(""))
    session.commit()
    assert result.version == 2 and result.migrated == {"v1:pause -> pause": 1000}
    session.expire_all()
    due_before = set(session.scalars(select(Enrollment.due_at)))
    assert due_before == {START + timedelta(minutes=1, days=3)}  # the wait goes on counting from where it was
    advance(engine, settings, by=timedelta(days=1))
    assert where_are(session, journey) == {("pause", "active"): 1000}  # not a moment early
    advance(engine, settings, by=timedelta(days=1, minutes=1))
    assert where_are(session, journey) == {("follow-up", "completed"): 1000}
    counts = ledger(session, "waves")
    assert counts == {("welcome", "email", "sent"): 1000, ("new-step", "email", "sent"): 1000,
                      ("follow-up", "email", "sent"): 1000}
    per_enrollment = session.execute(select(EnrollmentStep.enrollment_id, EnrollmentStep.step, func.count())
                                     .group_by(EnrollmentStep.enrollment_id, EnrollmentStep.step)
                                     .having(func.count() > 1)).all()
    assert per_enrollment == []
    v2 = session.scalars(select(JourneyVersion.id).where(JourneyVersion.number == 2)).one()
    assert set(session.scalars(select(Enrollment.version_id))) == {v2}
    assert session.scalar(select(func.count()).select_from(Message)) == 3000


def test_without_migrate_contacts_stay_on_their_version(engine: Engine, session: Session,
                                                        settings: Settings) -> None:
    clock.freeze(START)
    bulk_audience(session, 20)
    journey = make_journey(session, settings, V1)
    advance(engine, settings, by=timedelta(minutes=1))
    save_draft(session, _v2(), actor="test")
    publish(session, settings, get_journey(session, "waves"))
    session.commit()
    advance(engine, settings, by=timedelta(days=3, minutes=1))
    assert where_are(session, journey) == {("follow-up", "completed"): 20}
    assert ("new-step", "email", "sent") not in ledger(session, "waves")  # v1's path, to the end
    assert step_log(session, journey)[("pause", "follow-up")] == 20


def test_a_removed_step_must_be_mapped_and_mapped_ones_wait_anew(engine: Engine, session: Session,
                                                                 settings: Settings) -> None:
    clock.freeze(START)
    bulk_audience(session, 30)
    journey = make_journey(session, settings, V1)
    advance(engine, settings, by=timedelta(minutes=1))
    save_draft(session, _v2(drop_pause=True), actor="test")
    session.commit()
    with pytest.raises(JourneyStateError, match=r"step 'pause' of v1 is not in the new version: map it"):
        publish(session, settings, get_journey(session, "waves"), migrate={})
    session.rollback()
    with pytest.raises(JourneyStateError, match="no step 'nowhere'"):
        publish(session, settings, get_journey(session, "waves"), migrate={"pause": "nowhere"})
    session.rollback()
    result = publish(session, settings, get_journey(session, "waves"), migrate={"pause": "short-pause"})
    session.commit()
    assert result.migrated == {"v1:pause -> short-pause": 30}
    advance(engine, settings, by=timedelta(days=1, minutes=1))  # the new one-day wait counted from the publish
    assert where_are(session, journey) == {("follow-up", "completed"): 30}


def test_the_draft_does_not_change_what_runs_until_published(engine: Engine, session: Session,
                                                             settings: Settings) -> None:
    clock.freeze(START)
    form = {"event": "form.submitted"}
    journey = make_journey(session, settings, {**V1, "trigger": form})
    journey_two, what = save_draft(session, {**_v2(), "trigger": form}, actor="test")
    assert what == "updated" and journey_two.current_version == 1
    session.commit()
    from tests.journeys.support import people

    submit_form(session, people(session, 2))
    advance(engine, settings, by=timedelta(minutes=1))
    version = session.scalars(select(JourneyVersion.number).join(Enrollment, Enrollment.version_id ==
                                                                 JourneyVersion.id)).all()
    assert version == [1, 1] and where_are(session, journey) == {("pause", "active"): 2}
    publish(session, settings, get_journey(session, "waves"))
    with pytest.raises(JourneyStateError, match="the draft is version 2 already"):
        publish(session, settings, get_journey(session, "waves"))
