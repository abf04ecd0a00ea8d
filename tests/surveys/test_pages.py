"""Survey pages through real HTTP on SQLite and PostgreSQL: bad links store nothing, one response per invitation,
resume, skip logic, server-side validation, one-tap answers, write-back, anonymous mode."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core import clock
from core.models import (
    Answer,
    Consent,
    Contact,
    ContactTag,
    Event,
    InboundRequest,
    Invitation,
    Response,
    Survey,
    Tag,
)
from core.settings import Settings
from surveys.service import close_survey
from tests.surveys.support import example, invite_contacts, make_contacts, make_survey, path_of, token_of
from tests.test_web_support import make_client, web_settings

BROWSER = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"}
PAGE_2_OK = {"page": "2", "q.support": "4", "q.usage": "weekly"}


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    with make_client(engine, web_settings(settings)) as test_client:
        test_client.headers.update(BROWSER)
        yield test_client


@pytest.fixture
def invited(session: Session) -> list[Invitation]:
    make_survey(session)
    return invite_contacts(session, "nps-2026", make_contacts(session, 3))


def _count(session: Session, model: Any, *conditions: Any) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


def _nothing_stored(session: Session) -> None:
    assert [_count(session, model) for model in (Response, Answer, InboundRequest)] == [0, 0, 0]
    assert _count(session, Event, Event.type == "survey.answered") == 0


def _post(client: TestClient, path: str, data: dict[str, Any]) -> Any:
    return client.post(path, data=data, follow_redirects=False)


def test_tampered_expired_foreign_and_closed_links_get_4xx_and_store_nothing(
        client: TestClient, settings: Settings, session: Session, invited: list[Invitation]) -> None:
    config = web_settings(settings)
    first, second = invited[0], invited[1]
    token = token_of(config, first)
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for path in (f"/s/{tampered}", f"/s/{tampered}/a/nps/9", "/s/not-a-token"):
        answer = client.get(path)
        assert answer.status_code == 400 and "Lien de questionnaire invalide" in answer.text
    assert _post(client, f"/s/{tampered}", {"page": "1", "q.nps": "9"}).status_code == 400
    foreign = token_of(config, first, contact_id=second.contact_id)  # signed, but for another person
    assert client.get(f"/s/{foreign}").status_code == 403
    assert _post(client, f"/s/{foreign}", {"page": "1", "q.nps": "9"}).status_code == 403
    assert client.get(f"/s/{token}/a/nps/11").status_code == 400  # a value off the scale
    assert client.get(f"/s/{token}/a/support/4").status_code == 400  # not the first question
    _nothing_stored(session)

    clock.travel(timedelta(days=61))  # links are valid 60 days
    expired = client.get(f"/s/{token}")
    assert expired.status_code == 410 and "Lien expiré" in expired.text
    assert _post(client, f"/s/{token}", {"page": "1", "q.nps": "9"}).status_code == 410
    clock.reset()
    close_survey(session, session.scalars(select(Survey)).one())
    session.commit()
    closed = client.get(f"/s/{token}/a/nps/9")
    assert closed.status_code == 410 and "Questionnaire clos" in closed.text
    _nothing_stored(session)


def test_partial_then_resume_then_thanks_and_double_submit_keeps_one_response(
        client: TestClient, settings: Settings, session: Session, invited: list[Invitation]) -> None:
    path = path_of(web_settings(settings), invited[0])
    first = client.get(path)
    assert first.status_code == 200 and "Page 1 sur 3" in first.text and 'name="q.nps"' in first.text
    saved = _post(client, path, {"page": "1", "q.nps": "10"})
    assert saved.status_code == 303 and saved.headers["location"] == f"{path}?page=2"
    # The person leaves; the same link later resumes at page 2, with "liked" shown (nps 10) and not "reason".
    resumed = client.get(path)
    assert "Page 2 sur 3" in resumed.text and "Vous reprenez là où vous vous étiez arrêté" in resumed.text
    assert 'name="q.liked"' in resumed.text and 'name="q.reason"' not in resumed.text
    response = session.scalars(select(Response)).one()
    assert (response.status, response.next_page, response.contact_id) == ("partial", 1, invited[0].contact_id)
    for _ in range(2):  # a double click on "Save and continue"
        assert _post(client, path, {**PAGE_2_OK, "q.liked": "Le support"}).status_code == 303
    assert _count(session, Response) == 1 and _count(session, Answer) == 4
    done = _post(client, path, {"page": "3", "q.features": ["reports", "surveys"], "q.newsletter": "yes",
                                "q.aspects.price": "3", "q.aspects.quality": "5"})
    assert done.status_code == 303 and done.headers["location"] == path
    assert _post(client, path, {"page": "3", "q.features": ["reports", "surveys"], "q.newsletter": "yes",
                                "q.aspects.price": "3", "q.aspects.quality": "5"}).status_code == 303
    thanks = client.get(path)
    assert thanks.status_code == 200 and "Merci !" in thanks.text and "nous aident" in thanks.text
    session.expire_all()
    response = session.scalars(select(Response)).one()
    invitation = session.get(Invitation, invited[0].id)
    assert response.status == "completed" and invitation is not None and invitation.completed_at is not None
    answers = dict(session.execute(select(Answer.question, Answer.value)).tuples().all())
    assert answers == {"nps": 10, "liked": "Le support", "support": 4, "usage": "weekly",
                       "features": ["reports", "surveys"], "newsletter": True, "aspects.price": 3, "aspects.quality": 5}
    # One event per distinct save: page 1, page 2, page 3 (the repeated posts changed nothing).
    events = session.scalars(select(Event).where(Event.type == "survey.answered").order_by(Event.id)).all()
    assert [(event.properties["page"], event.properties["completed"]) for event in events] == [
        (1, False), (2, False), (3, True)]
    assert events[-1].properties | {"survey": "nps-2026"} == events[-1].properties
    assert events[-1].properties["aspects_price"] == 3 and events[-1].message_id == invited[0].message_id


def test_skip_logic_and_a_changed_answer_drops_the_hidden_ones(
        client: TestClient, settings: Settings, session: Session, invited: list[Invitation]) -> None:
    path = path_of(web_settings(settings), invited[1])
    _post(client, path, {"page": "1", "q.nps": "10"})
    _post(client, path, {**PAGE_2_OK, "q.liked": "Tout"})
    assert _count(session, Answer, Answer.question == "liked") == 1
    back = client.get(f"{path}?page=1")  # the previous page, prefilled
    assert re.search(r'value="10" id="q-nps-10" checked', back.text)
    assert _post(client, path, {"page": "1", "q.nps": "3"}).headers["location"] == f"{path}?page=2"
    assert _count(session, Answer, Answer.question == "liked") == 0  # hidden by the new score: removed
    page_two = client.get(f"{path}?page=2")
    assert 'name="q.reason"' in page_two.text and 'name="q.liked"' not in page_two.text
    assert client.get(f"{path}?page=3").text.count("Page 2 sur 3") == 1  # page 3 not reached yet: stays on 2


def test_bad_posts_get_the_page_back_with_errors_and_write_nothing(
        client: TestClient, settings: Settings, session: Session, invited: list[Invitation]) -> None:
    path = path_of(web_settings(settings), invited[2])
    for value in ("11", "-1", "abc", ""):
        answer = _post(client, path, {"page": "1", "q.nps": value})
        assert answer.status_code == 422 and 'role="alert"' in answer.text
    assert "choisissez une valeur de 0 à 10" in _post(client, path, {"page": "1", "q.nps": "11"}).text
    assert "une réponse est nécessaire" in _post(client, path, {"page": "1"}).text
    _nothing_stored(session)
    _post(client, path, {"page": "1", "q.nps": "5"})
    before = _count(session, Answer)
    bad = _post(client, path, {"page": "2", "q.support": "9", "q.usage": "yearly", "q.reason": "x" * 6000})
    assert bad.status_code == 422
    for message in ("choisissez une valeur de 1 à 5", "choisissez une des réponses proposées", "5000 caractères"):
        assert message in bad.text
    other = _post(client, path, {"page": "2", "q.support": "3", "q.usage": "other"})
    assert other.status_code == 422 and "précisez votre réponse" in other.text
    assert _post(client, path, {"page": "3", "q.newsletter": "yes"}).status_code == 400  # page 3 not open yet
    assert _count(session, Answer) == before == 1
    assert _post(client, path, {"page": "2", "q.support": "3", "q.usage": "other",
                                "q.usage.other": "Rarement"}).status_code == 303
    assert session.scalars(select(Answer).where(Answer.question == "usage")).one().text == "Rarement"


def test_one_tap_from_the_email_records_the_score_and_opens_the_next_page(
        client: TestClient, settings: Settings, session: Session, invited: list[Invitation]) -> None:
    path = path_of(web_settings(settings), invited[0])
    scanner = client.get(f"{path}/a/nps/2", headers={"User-Agent": "Mozilla/5.0 (compatible; Proofpoint)"})
    assert scanner.status_code == 200 and re.search(r'value="2" id="q-nps-2" checked', scanner.text)
    assert _count(session, Answer) == 0  # a link scanner records nothing
    tapped = client.get(f"{path}/a/nps/9", follow_redirects=False)
    assert tapped.status_code == 303 and tapped.headers["location"] == f"{path}?page=2&from=tap"
    following = client.get(tapped.headers["location"])
    assert "votre note est enregistrée" in following.text and "Page 2 sur 3" in following.text
    assert session.scalars(select(Answer)).one().value == 9
    assert _count(session, Event, Event.type == "survey.answered") == 1
    assert _count(session, InboundRequest, InboundRequest.provider == "click") == 2  # the scanner's and the person's


def test_first_question_not_alone_opens_its_page_at_the_next_question(
        client: TestClient, settings: Settings, session: Session) -> None:
    document = example("csat-support", anonymous=False)
    make_survey(session, document)
    invitation = invite_contacts(session, "csat-support", make_contacts(session, 1, language="en"))[0]
    path = path_of(web_settings(settings), invitation)
    tapped = client.get(f"{path}/a/csat/2", follow_redirects=False)
    assert tapped.headers["location"] == f"{path}?page=1&from=tap#q-resolved"
    page = client.get(tapped.headers["location"])
    assert "Page 1 of" in page.text and re.search(r'value="2" id="q-csat-2" checked', page.text)
    assert "Thank you, your score is saved" in page.text


def test_write_back_fills_the_record_and_is_idempotent(
        client: TestClient, settings: Settings, session: Session, invited: list[Invitation]) -> None:
    path = path_of(web_settings(settings), invited[0])
    last = {"page": "3", "q.newsletter": "yes"}
    for _ in range(2):
        _post(client, path, {"page": "1", "q.nps": "9"})
        _post(client, path, PAGE_2_OK)
        _post(client, path, last)
    session.expire_all()
    contact = session.get(Contact, invited[0].contact_id)
    assert contact is not None
    assert contact.attributes == {"nps": 9, "csat_support": 4, "usage_frequency": "weekly"}
    tags = session.scalars(select(Tag.name).join(ContactTag).where(ContactTag.contact_id == contact.id)).all()
    assert tags == ["promoter"]
    consent = session.scalars(select(Consent).where(Consent.topic == "newsletter")).one()
    assert (consent.channel, consent.status, consent.source, consent.wording_version) == (
        "email", "granted", "survey:nps-2026", "nps-2026@v1")
    assert consent.user_agent == BROWSER["User-Agent"]
    assert _count(session, Event, Event.type == "consent.changed") == 1
    # A changed mind: score 4 and no newsletter → detractor tag instead, consent withdrawn.
    _post(client, path, {"page": "1", "q.nps": "4"})
    _post(client, path, PAGE_2_OK)
    _post(client, path, {"page": "3", "q.newsletter": "no"})
    session.expire_all()
    tags = session.scalars(select(Tag.name).join(ContactTag).where(ContactTag.contact_id == contact.id)).all()
    assert tags == ["detractor"] and session.get(Contact, contact.id).attributes["nps"] == 4  # type: ignore[union-attr]
    assert session.scalars(select(Consent).where(Consent.topic == "newsletter")).one().status == "withdrawn"


def test_anonymous_survey_keeps_no_contact_with_the_answers(
        client: TestClient, settings: Settings, session: Session) -> None:
    make_survey(session, example("csat-support"))
    invitations = invite_contacts(session, "csat-support", make_contacts(session, 2))
    config = web_settings(settings)
    for invitation, score in zip(invitations, ("2", "5"), strict=True):
        path = path_of(config, invitation)
        assert _post(client, path, {"page": "1", "q.csat": score, "q.resolved": "no"}).status_code == 303
        assert _post(client, path, {"page": "2", "q.comment": "Trop long"}).status_code == 303
        assert "Merci" in client.get(path).text
    session.expire_all()
    responses = session.scalars(select(Response)).all()
    assert len(responses) == 2 and all(r.contact_id is None and r.invitation_id is None for r in responses)
    assert all(r.status == "completed" and r.started_at.hour == 0 for r in responses)  # kept to the day
    assert {r.respondent_key for r in responses}.isdisjoint({i.id for i in invitations})
    assert _count(session, Event, Event.type == "survey.answered") == 0  # no per-contact answer anywhere
    assert all(session.get(Invitation, i.id).completed_at is not None for i in invitations)  # type: ignore[union-attr]
    assert _count(session, Answer) == 6


def test_a_reminder_resumes_the_open_response_and_a_later_invitation_starts_afresh(
        client: TestClient, settings: Settings, session: Session, invited: list[Invitation]) -> None:
    from tests.surveys.test_records import _members

    config = web_settings(settings)
    first = invited[0]
    _post(client, path_of(config, first), {"page": "1", "q.nps": "7"})
    contact = session.get(Contact, first.contact_id)
    assert contact is not None
    reminder = invite_contacts(session, "nps-2026", [contact])[0]
    assert reminder.resumes == first.id and reminder.started_at is not None
    assert _members(session, [{"survey": "nps-2026", "status": "invited"}]) == {
        invited[1].contact_id, invited[2].contact_id}  # the reminded person counts as started, not invited
    resumed = client.get(path_of(config, reminder))
    assert "Page 2 sur 3" in resumed.text and "Vous reprenez" in resumed.text
    _post(client, path_of(config, reminder), PAGE_2_OK)
    _post(client, path_of(config, reminder), {"page": "3"})
    session.expire_all()
    assert _count(session, Response) == 1 and session.scalars(select(Response)).one().status == "completed"
    assert all(session.get(Invitation, item.id).completed_at is not None  # type: ignore[union-attr]
               for item in (first, reminder))
    assert "Merci" in client.get(path_of(config, first)).text
    later = invite_contacts(session, "nps-2026", [contact])[0]  # e.g. next quarter's wave: a new response
    assert later.resumes is None
    assert "Page 1 sur 3" in client.get(path_of(config, later)).text
    _post(client, path_of(config, later), {"page": "1", "q.nps": "10"})
    assert _count(session, Response) == 2
