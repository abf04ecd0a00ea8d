"""Survey responses as a flat table for analysts (`relance survey results NAME --csv`): one row per response, one
column per answer key (matrix rows, "other" texts), contact columns only for identified surveys."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Answer, Contact, Response
from surveys.breakdowns import Scope
from surveys.questions import MatrixQuestion
from surveys.results import scope_of
from surveys.service import current_version, document_of, get_survey

BATCH = 2000


def _columns(document: Any) -> list[tuple[str, str]]:
    """(column, stored question key) per answer, in the document's order."""
    columns: list[tuple[str, str]] = []
    for _, question in document.questions():
        if isinstance(question, MatrixQuestion):
            columns += [(f"{question.name}_{row.value}", f"{question.name}.{row.value}") for row in question.rows]
            continue
        columns.append((question.name, question.name))
        if question.type in ("single", "multiple") and getattr(question, "other", False):
            columns.append((f"{question.name}_other", f"{question.name}#other"))
    return columns


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return ";".join(str(item) for item in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else value


def response_rows(session: Session, name: str, *, segment: str | None = None,
                  since: datetime | None = None) -> Iterator[list[Any]]:
    """The header, then one row per response (oldest first), read in batches."""
    survey = get_survey(session, name)
    document = document_of(current_version(session, survey))
    scope: Scope = scope_of(session, survey, segment, since)
    columns = _columns(document)
    identified = not survey.anonymous
    head = ["response", "status", "language", "channel", "started_at", "completed_at"]
    yield head + (["contact_id", "email"] if identified else []) + [column for column, _ in columns]
    last = 0
    while True:
        query = (select(Response.id, Response.status, Response.language, Response.channel, Response.started_at,
                        Response.completed_at, Response.contact_id, Contact.email)
                 .outerjoin(Contact, Contact.id == Response.contact_id)
                 .where(*scope.responses, Response.id > last).order_by(Response.id).limit(BATCH))
        batch = session.execute(query).all()
        if not batch:
            return
        answers: dict[int, dict[str, Any]] = {row[0]: {} for row in batch}
        for response_id, question, value, text in session.execute(
                select(Answer.response_id, Answer.question, Answer.value, Answer.text)
                .where(Answer.response_id.in_(list(answers)))):
            answers[response_id][question] = value
            if text is not None and text != value:  # a choice's "other" text (a text answer is its own value)
                answers[response_id][f"{question}#other"] = text
        for row in batch:
            given = answers[row[0]]
            cells = [row[0], row[1], row[2], row[3], _cell(row[4]), _cell(row[5])]
            cells += [row[6], row[7]] if identified else []
            yield cells + [_cell(given.get(key)) for _, key in columns]
        last = batch[-1][0]
