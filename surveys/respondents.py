"""Who is answering: an invitation opened from its signed link (checked: known, this contact's, not expired, survey
open), the response it resumes, its saved answers, and which pages they make visible (skip logic)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.models import Answer, Contact, Invitation, Response, Survey, SurveyVersion
from core.settings import Settings
from surveys.definition import SurveyDocument
from surveys.questions import MatrixQuestion, Question
from surveys.service import document_of, is_open


class LinkProblem(Exception):
    """A survey link that cannot be used: `kind` says why (the web maps it to a 4xx page; nothing is stored)."""

    STATUS = {"invalid": 400, "mismatch": 403, "unknown": 404, "expired": 410, "closed": 410}

    def __init__(self, kind: str, detail: str = "") -> None:
        self.kind, self.detail = kind, detail
        super().__init__(f"{kind}: {detail}" if detail else kind)

    @property
    def status(self) -> int:
        return self.STATUS[self.kind]


@dataclass
class Respondent:
    """An opened invitation with its survey version, its response (None before the first save) and answers."""

    invitation: Invitation
    survey: Survey
    version: SurveyVersion
    document: SurveyDocument
    contact: Contact
    response: Response | None
    language: str
    answers: dict[str, Any] = field(default_factory=dict)  # question -> value (matrix: {row: value})
    texts: dict[str, str] = field(default_factory=dict)  # question -> "other" text

    @property
    def anonymous(self) -> bool:
        return self.survey.anonymous

    @property
    def root(self) -> str:
        """The invitation whose response this one continues (itself, unless it is a reminder of an open one)."""
        return self.invitation.resumes or self.invitation.id

    @property
    def completed(self) -> bool:
        return self.response is not None and self.response.status == "completed"


def respondent_key(settings: Settings, invitation_id: str) -> str:
    """The key that makes a response unique per invitation; a keyed hash, so an anonymous response cannot be
    joined back to its invitation from the database alone."""
    secret = settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, f"survey-response:{invitation_id}".encode(), hashlib.sha256).hexdigest()


def open_invitation(session: Session, settings: Settings, payload: dict[str, Any],
                    accept_language: str | None = None) -> Respondent:
    """The respondent behind a verified link payload {"i": invitation, "c": contact}; raises LinkProblem."""
    invitation_id, contact_id = payload.get("i"), payload.get("c")
    if not isinstance(invitation_id, str) or not invitation_id:
        raise LinkProblem("invalid", "no invitation in the link")
    invitation = session.get(Invitation, invitation_id)
    if invitation is None:
        raise LinkProblem("unknown", "no such invitation")
    if invitation.contact_id != contact_id:
        raise LinkProblem("mismatch", "the link was made for another person")
    contact = session.get(Contact, invitation.contact_id)
    if contact is None or contact.erased_at is not None:
        raise LinkProblem("unknown", "the person was erased")
    survey = session.get(Survey, invitation.survey_id)
    version = session.get(SurveyVersion, invitation.version_id)
    assert survey is not None and version is not None
    if not is_open(survey):
        raise LinkProblem("closed", f"survey {survey.name} is closed")
    if invitation.expires_at is not None and clock.utc(invitation.expires_at) <= clock.now():
        raise LinkProblem("expired", f"the link expired on {invitation.expires_at:%Y-%m-%d}")
    document = document_of(version)
    response = session.scalars(select(Response).where(
        Response.respondent_key == respondent_key(settings, invitation.resumes or invitation.id))).first()
    language = document.language(response.language if response else contact.language or accept_language)
    respondent = Respondent(invitation, survey, version, document, contact, response, language)
    if response is not None:
        load_answers(session, respondent)
    return respondent


def load_answers(session: Session, respondent: Respondent) -> None:
    """The response's saved answers into `respondent.answers` (matrix rows gathered per question)."""
    respondent.answers, respondent.texts = {}, {}
    if respondent.response is None:
        return
    rows = session.execute(select(Answer.question, Answer.value, Answer.text)
                           .where(Answer.response_id == respondent.response.id))
    for question, value, text in rows:
        name, _, row = question.partition(".")
        if row:
            respondent.answers.setdefault(name, {})[row] = value
        else:
            respondent.answers[name] = value
            if text is not None:
                respondent.texts[name] = text


def visible(document: SurveyDocument, question: Question, answers: dict[str, Any]) -> bool:
    """Whether the question is shown, given the answers saved so far."""
    condition = document.condition(question)
    return condition is None or condition.holds(answers)


def visible_questions(document: SurveyDocument, page: int, answers: dict[str, Any]) -> list[Question]:
    return [question for question in document.pages[page].questions if visible(document, question, answers)]


def next_visible_page(document: SurveyDocument, after: int, answers: dict[str, Any]) -> int | None:
    """The first page after `after` with a visible question (None: the survey is done)."""
    for index in range(after + 1, len(document.pages)):
        if visible_questions(document, index, answers):
            return index
    return None


def missing_required(document: SurveyDocument, page: int, answers: dict[str, Any]) -> bool:
    """A visible required question of `page` has no answer."""
    return any(question.required and not _has(answers.get(question.name), question)
               for question in visible_questions(document, page, answers))


def _has(value: Any, question: Question) -> bool:
    if isinstance(question, MatrixQuestion):
        return isinstance(value, dict) and len(value) == len(question.rows)
    return value is not None and value != [] and value != ""


def page_to_show(respondent: Respondent, requested: int | None = None) -> int | None:
    """The page a visit shows: the requested one when already reached and visible, else where the person
    stopped; None once completed (the thank-you page)."""
    if respondent.completed:
        return None
    reached = respondent.response.next_page if respondent.response is not None else 0
    document, answers = respondent.document, respondent.answers
    if requested is not None and 0 <= requested <= reached and visible_questions(document, requested, answers):
        return requested
    if visible_questions(document, reached, answers):
        return reached
    return next_visible_page(document, reached, answers)


def day_of(moment: datetime) -> datetime:
    """An anonymous response's times are kept to the day (they cannot be matched to an invitation's)."""
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)
