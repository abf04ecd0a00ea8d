"""Answers back in the records, read with no survey-specific code: segment conditions on the survey status and on
`survey.answered` properties (comparisons), scoring's feature discovery, and a campaign's reminder audience."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.models import Contact, Invitation, Message
from core.settings import Settings
from scoring.features import discover_features
from segments import SegmentDefinitionError, compile_definition, parse_definition
from surveys.answering import save_page
from surveys.records import Visit
from surveys.respondents import open_invitation
from tests.surveys.support import invite_contacts, make_contacts, make_survey

PAGE_2 = {"q.support": ["4"], "q.usage": ["daily"]}


def _answer(session: Session, settings: Settings, invitation: Invitation, *pages: dict[str, list[str]]) -> None:
    for index, form in enumerate(pages):
        respondent = open_invitation(session, settings, {"i": invitation.id, "c": invitation.contact_id})
        saved = save_page(session, settings, respondent, index, form, Visit(ip="127.0.0.1", user_agent="test"))
        assert saved.ok, saved.errors
        session.commit()


def _members(session: Session, conditions: list[dict[str, Any]]) -> set[int]:
    return set(session.scalars(compile_definition(session, {"conditions": conditions})))


@pytest.fixture
def answered(session: Session, settings: Settings) -> dict[str, Contact]:
    """Five invited customers: a promoter who completed, a detractor who completed, a passive who stopped after
    page 1, one who never answered, one whose invitation bounced."""
    make_survey(session)
    people = make_contacts(session, 5)
    invitations = invite_contacts(session, "nps-2026", people)
    _answer(session, settings, invitations[0], {"q.nps": ["10"]}, PAGE_2, {"q.newsletter": ["yes"]})
    _answer(session, settings, invitations[1], {"q.nps": ["3"]}, {**PAGE_2, "q.reason": ["Trop cher"]}, {})
    _answer(session, settings, invitations[2], {"q.nps": ["8"]})
    session.execute(update(Message).where(Message.id == invitations[4].message_id).values(status="bounced"))
    session.commit()
    return dict(zip(("promoter", "detractor", "passive", "silent", "bounced"), people, strict=True))


def test_segment_conditions_on_the_survey_status(session: Session, answered: dict[str, Contact]) -> None:
    ids = {name: contact.id for name, contact in answered.items()}
    assert _members(session, [{"survey": "nps-2026", "status": "invited"}]) == {ids["silent"]}
    assert _members(session, [{"survey": "nps-2026", "status": "started"}]) == {ids["passive"]}
    assert _members(session, [{"survey": "nps-2026", "status": "completed"}]) == {ids["promoter"], ids["detractor"]}
    assert _members(session, [{"survey": "nps-2026", "status": ["invited", "started"]}]) == {
        ids["silent"], ids["passive"]}
    assert _members(session, [{"survey": "nps-2026"}]) == set(ids.values()) - {ids["bounced"]}
    assert _members(session, [{"not": {"survey": "nps-2026", "status": "completed"}}]) == {
        ids["silent"], ids["passive"], ids["bounced"]}
    with pytest.raises(SegmentDefinitionError, match=r"conditions\[0\].survey: no survey named 'nps-1999'"):
        compile_definition(session, {"conditions": [{"survey": "nps-1999", "status": "invited"}]})
    with pytest.raises(SegmentDefinitionError, match=r"conditions\[0\].status"):
        parse_definition({"conditions": [{"survey": "nps-2026", "status": "opened"}]})


def test_answers_are_events_segments_compare(session: Session, answered: dict[str, Contact]) -> None:
    ids = {name: contact.id for name, contact in answered.items()}
    promoters = [{"event": "survey.answered", "where": {"survey": "nps-2026", "nps": {"gte": 9}}}]
    detractors = [{"event": "survey.answered", "where": {"survey": "nps-2026", "nps": {"lte": 6}}, "within": "30d"}]
    assert _members(session, promoters) == {ids["promoter"]}
    assert _members(session, detractors) == {ids["detractor"]}
    assert _members(session, [{"event": "survey.answered", "where": {"nps": {"lt": 9}}},
                              {"event": "survey.answered", "where": {"nps": {"gt": 6}}}]) == {ids["passive"]}
    completed = [{"event": "survey.answered", "where": {"survey": "nps-2026", "completed": True}}]
    assert _members(session, completed) == {ids["promoter"], ids["detractor"]}
    assert _members(session, [{"event": "survey.answered", "where": {"usage": "daily", "support": {"gte": 4}}}]) == {
        ids["promoter"], ids["detractor"]}
    assert _members(session, [{"field": "attributes.nps", "op": "lte", "value": 6}]) == {ids["detractor"]}
    assert _members(session, [{"tag": "promoter"}]) == {ids["promoter"]}


def test_scoring_discovers_survey_answers_without_new_code(session: Session, settings: Settings) -> None:
    make_survey(session)
    people = make_contacts(session, 12)
    for index, invitation in enumerate(invite_contacts(session, "nps-2026", people)):
        usage = ("daily", "weekly", "monthly")[index % 3]
        _answer(session, settings, invitation, {"q.nps": [str(index % 11)]},
                {"q.support": [str(index % 5 + 1)], "q.usage": [usage]})
    spec = discover_features(session, snapshot=False, min_event_contacts=5)
    assert "nps" in spec.numeric_attributes and "csat_support" in spec.numeric_attributes
    assert "usage_frequency" in spec.categorical_attributes
    assert "survey.answered" in spec.event_types


def test_reminders_go_only_to_non_responders(session: Session, settings: Settings,
                                            answered: dict[str, Contact]) -> None:
    from campaigns.planner import plan_campaign
    from campaigns.service import create_campaign
    from contacts.consent import Proof, set_consent
    from segments.service import create_segment

    for contact in answered.values():
        contact.email_status = "valid"
        set_consent(session, contact.id, "email", "granted", Proof(source="test"))
    create_segment(session, "nps-not-answered", {"conditions": [
        {"survey": "nps-2026", "status": ["invited", "started"]}]})
    campaign = create_campaign(session, {"name": "nps-reminder", "segment": "nps-not-answered", "channel": "email",
                                        "template": "survey-invitation", "survey": "nps-2026"})
    report = plan_campaign(session, settings, campaign, dry_run=False)
    reminded = set(session.scalars(select(Message.contact_id).where(Message.campaign_id == campaign.id,
                                                                      Message.status == "queued")))
    assert reminded == {answered["silent"].id, answered["passive"].id} and report.invited == 2


def test_gdpr_export_lists_the_answers_and_erasure_detaches_them(session: Session, settings: Settings,
                                                                 answered: dict[str, Contact]) -> None:
    from contacts.gdpr import erase_contact, personal_data
    from core.models import Answer, Response

    detractor = answered["detractor"]
    exported = personal_data(session, detractor)["survey_answers"]
    assert {row["question"]: row["answer"] for row in exported} | {"nps": 3} == {
        row["question"]: row["answer"] for row in exported} and any(row["text"] == "Trop cher" for row in exported)
    erase_contact(session, detractor)
    session.commit()
    assert session.scalar(select(Response.id).where(Response.contact_id == detractor.id)) is None
    assert "Trop cher" not in [text for text in session.scalars(select(Answer.text)) if text]
    assert session.scalar(select(func.count()).select_from(Response)) == 3  # kept for the results, detached
