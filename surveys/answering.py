"""Saving answers: a submitted page (checked first, then written whole in the caller's transaction) or the one-tap
answer from the email; one response per invitation, a resubmitted page overwrites that page's answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from core import clock
from core.dialect import dialect_insert
from core.models import Answer, Invitation, Response
from core.settings import Settings
from surveys.questions import MatrixQuestion, Parsed, Question, number_of
from surveys.records import Visit, record_answers
from surveys.respondents import (
    LinkProblem,
    Respondent,
    day_of,
    missing_required,
    next_visible_page,
    respondent_key,
    visible,
    visible_questions,
)


@dataclass
class Saved:
    """The outcome of a submission: errors by question (nothing was written), or where the person goes next."""

    errors: dict[str, Parsed] = field(default_factory=dict)
    next_page: int | None = None
    completed: bool = False
    focus: str | None = None  # the question to scroll to on the next page (after a one-tap answer)

    @property
    def ok(self) -> bool:
        return not self.errors


def check_page(respondent: Respondent, page: int, form: Mapping[str, list[str]]) -> tuple[dict[str, Parsed],
                                                                                           dict[str, Parsed]]:
    """(parsed answers, errors) of the page's visible questions; nothing is written."""
    parsed: dict[str, Parsed] = {}
    errors: dict[str, Parsed] = {}
    for question in visible_questions(respondent.document, page, respondent.answers):
        result = question.parse(form)
        (errors if result.error else parsed)[question.name] = result
    return parsed, errors


def save_page(session: Session, settings: Settings, respondent: Respondent, page: int,
              form: Mapping[str, list[str]], visit: Visit) -> Saved:
    """Check the page's answers server-side; when they all pass, write them (replacing that page's earlier
    answers), move the response on and record it on the timeline. A bad post writes nothing."""
    reached = respondent.response.next_page if respondent.response is not None else 0
    if not 0 <= page < len(respondent.document.pages) or (page > reached and not respondent.completed):
        raise LinkProblem("invalid", f"page {page + 1} is not open yet")
    parsed, errors = check_page(respondent, page, form)
    if errors:
        return Saved(errors=errors)
    _write(session, settings, respondent, page, parsed, replace_page=True)
    return _advance(session, settings, respondent, page, visit)


def tap(session: Session, settings: Settings, respondent: Respondent, question_name: str, raw: str,
        visit: Visit) -> Saved:
    """The one-tap answer to the first question, from the invitation email: recorded at once; the survey opens
    at the next question (the next page when the first page asks nothing else)."""
    first = respondent.version.first_question
    if not first or first["name"] != question_name:
        raise LinkProblem("invalid", "this question cannot be answered from a link")
    if respondent.completed:
        return Saved(completed=True)
    question = respondent.document.question(question_name)
    result = question.parse({question.field_name(): [raw]})
    if result.error or not result.answered:
        raise LinkProblem("invalid", f"{raw!r} is not an answer to {question_name}")
    if first.get("alone"):
        _write(session, settings, respondent, 0, {question_name: result}, replace_page=True)
        return _advance(session, settings, respondent, 0, visit)
    _write(session, settings, respondent, 0, {question_name: result}, replace_page=False)
    record_answers(session, respondent, page=0, completed=False, visit=visit)
    following = [item.name for item in visible_questions(respondent.document, 0, respondent.answers)
                 if item.name != question_name]
    return Saved(next_page=0, focus=following[0] if following else None)


# -- writing ---------------------------------------------------------------------------------------------------
def _now(respondent: Respondent) -> datetime:
    return day_of(clock.now()) if respondent.anonymous else clock.now()


def _thread(respondent: Respondent) -> Any:
    """The invitation answered and the reminders that continue the same response."""
    return or_(Invitation.id == respondent.root, Invitation.resumes == respondent.root)


def _ensure_response(session: Session, settings: Settings, respondent: Respondent) -> Response:
    """The invitation's one response, created on the first save (a concurrent first save finds the same row)."""
    if respondent.response is not None:
        return respondent.response
    invitation, now = respondent.invitation, _now(respondent)
    key = respondent_key(settings, respondent.root)
    values = {"survey_id": respondent.survey.id, "version_id": respondent.version.id, "respondent_key": key,
              "invitation_id": None if respondent.anonymous else respondent.root,
              "contact_id": None if respondent.anonymous else invitation.contact_id,
              "channel": invitation.channel, "language": respondent.language, "status": "partial",
              "next_page": 0, "started_at": now, "updated_at": now}
    session.execute(dialect_insert(session)(Response).values(**values)
                    .on_conflict_do_nothing(index_elements=["respondent_key"]))
    response = session.scalars(select(Response).where(Response.respondent_key == key)).one()
    respondent.response = response
    return response


def _rows(response_id: int, survey_id: int, page: int, question: Question, result: Parsed,
          now: datetime) -> list[dict[str, Any]]:
    base = {"response_id": response_id, "survey_id": survey_id, "page": page, "answered_at": now}
    if isinstance(question, MatrixQuestion):
        return [{**base, "question": f"{question.name}.{row}", "number": float(value), "value": value, "text": None}
                for row, value in (result.value or {}).items()]
    return [{**base, "question": question.name, "number": number_of(result.value), "value": result.value,
             "text": result.text}]


def _write(session: Session, settings: Settings, respondent: Respondent, page: int, parsed: dict[str, Parsed],
           *, replace_page: bool) -> None:
    """Upsert the answers given; with `replace_page`, the page's other answers (left blank, hidden) go."""
    response = _ensure_response(session, settings, respondent)
    now = _now(respondent)
    session.execute(update(Invitation).where(_thread(respondent), Invitation.started_at.is_(None))
                    .values(started_at=now))
    document = respondent.document
    rows: list[dict[str, Any]] = []
    for name, result in parsed.items():
        if result.answered:
            rows += _rows(response.id, respondent.survey.id, page, document.question(name), result, now)
    if replace_page:
        kept = [row["question"] for row in rows]
        stale = [Answer.response_id == response.id, Answer.page == page]
        session.execute(delete(Answer).where(*stale, Answer.question.not_in(kept)) if kept else
                        delete(Answer).where(*stale))
    if rows:
        insert = dialect_insert(session)(Answer)
        statement = insert.values(rows)
        statement = statement.on_conflict_do_update(
            index_elements=["response_id", "question"],
            set_={"page": statement.excluded.page, "number": statement.excluded.number,
                  "value": statement.excluded.value, "text": statement.excluded.text,
                  "answered_at": statement.excluded.answered_at})
        session.execute(statement)
    for name, result in parsed.items():
        respondent.answers.pop(name, None)
        respondent.texts.pop(name, None)
        if result.answered:
            respondent.answers[name] = result.value
            if result.text is not None:
                respondent.texts[name] = result.text
    _drop_hidden(session, respondent, after=page)


def _drop_hidden(session: Session, respondent: Respondent, *, after: int) -> None:
    """Answers to later questions that the new answers hide are removed (a changed answer changes the path)."""
    document, response = respondent.document, respondent.response
    assert response is not None
    hidden = [question.name for index, question in document.questions()
              if index > after and question.name in respondent.answers
              and not visible(document, question, respondent.answers)]
    if not hidden:
        return
    for name in hidden:
        respondent.answers.pop(name, None)
        respondent.texts.pop(name, None)
    patterns = [Answer.question == name for name in hidden] + [Answer.question.startswith(f"{name}.")
                                                               for name in hidden]
    session.execute(delete(Answer).where(Answer.response_id == response.id, or_(*patterns)))


def _advance(session: Session, settings: Settings, respondent: Respondent, page: int, visit: Visit) -> Saved:
    """Move the response past `page`; complete it when no visible page is left (a completed response stays
    completed unless a changed answer opened a page with a required question still to answer)."""
    response, document, answers = respondent.response, respondent.document, respondent.answers
    assert response is not None
    following = next_visible_page(document, page, answers)
    if respondent.completed:
        following = next((index for index in range(page + 1, len(document.pages))
                          if missing_required(document, index, answers)), None)
    now = _now(respondent)
    response.updated_at = now
    if following is None:
        response.status, response.next_page = "completed", len(document.pages)
        response.completed_at = response.completed_at or now
        session.execute(update(Invitation).where(_thread(respondent), Invitation.completed_at.is_(None))
                        .values(completed_at=now))
    else:
        response.status, response.next_page, response.completed_at = "partial", following, None
    session.flush()
    record_answers(session, respondent, page=page, completed=following is None, visit=visit)
    return Saved(next_page=following, completed=following is None)
