"""Slices of survey results: the scope (survey, segment members, since), the weekly trend, NPS and CSAT by channel,
language and segment, and the text answers for export."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from core import clock
from core.models import Answer, Invitation, Response, Segment, SegmentMembership, Survey
from surveys.definition import SurveyDocument
from surveys.questions import text_for
from surveys.stats import csat, nps

SEGMENTS_SHOWN = 20


@dataclass(frozen=True)
class Scope:
    """Which invitations, responses and answers a result reads."""

    invitations: tuple[ColumnElement[bool], ...]
    responses: tuple[ColumnElement[bool], ...]
    answers: tuple[ColumnElement[bool], ...]

    @classmethod
    def of(cls, survey: Survey, members: Select[Any] | None, since: datetime | None) -> Scope:
        invitations: list[ColumnElement[bool]] = [Invitation.survey_id == survey.id]
        responses: list[ColumnElement[bool]] = [Response.survey_id == survey.id]
        if members is not None:
            invitations.append(Invitation.contact_id.in_(members))
            responses.append(Response.contact_id.in_(members))
        if since is not None:
            invitations.append(Invitation.created_at >= since)
            responses.append(Response.started_at >= since)
        answers: list[ColumnElement[bool]] = [Answer.survey_id == survey.id]
        if len(responses) > 1:
            answers.append(Answer.response_id.in_(select(Response.id).where(*responses)))
        return cls(tuple(invitations), tuple(responses), tuple(answers))


def _scores(main_nps: str | None, main_csat: str | None) -> tuple[Any, Any, list[Any]]:
    """Aliases of the main NPS and CSAT answers and the aggregate columns over them."""
    n, c = aliased(Answer), aliased(Answer)
    columns = [
        func.count(Response.id), func.sum(case((Response.status == "completed", 1), else_=0)),
        func.sum(case((n.number >= 9, 1), else_=0)), func.sum(case((and_(n.number >= 7, n.number <= 8), 1), else_=0)),
        func.sum(case((n.number <= 6, 1), else_=0)), func.sum(case((c.number >= 4, 1), else_=0)), func.count(c.number),
    ]
    return n, c, columns


def _joined(query: Select[Any], n: Any, c: Any, main_nps: str | None, main_csat: str | None) -> Select[Any]:
    query = query.outerjoin(n, and_(n.response_id == Response.id, n.question == (main_nps or "")))
    return query.outerjoin(c, and_(c.response_id == Response.id, c.question == (main_csat or "")))


def _figures(row: Any) -> dict[str, Any]:
    responses, completed, promoters, passives, detractors, satisfied, rated = (int(value or 0) for value in row)
    score, share = nps(promoters, passives, detractors), csat(satisfied, rated)
    return {"responses": responses, "completed": completed, "nps": score.as_dict() if score else None,
            "csat": share.as_dict() if share else None}


def breakdowns(session: Session, scope: Scope, main_nps: str | None, main_csat: str | None, *,
               with_segments: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(by channel, by language, by segment): responses, completions, NPS and CSAT with intervals per group.
    Segments by membership as of their last refresh, the largest first (identified surveys only)."""
    n, c, columns = _scores(main_nps, main_csat)
    groups = []
    for key in (Response.channel, Response.language):
        query = _joined(select(key, *columns).select_from(Response), n, c, main_nps, main_csat)
        rows = session.execute(query.where(*scope.responses).group_by(key).order_by(func.count(Response.id).desc()))
        groups.append([{"key": row[0] or "unknown", **_figures(row[1:])} for row in rows])
    segments: list[dict[str, Any]] = []
    if with_segments:
        query = (select(Segment.name, *columns).select_from(Response)
                 .join(SegmentMembership, SegmentMembership.contact_id == Response.contact_id)
                 .join(Segment, Segment.id == SegmentMembership.segment_id))
        rows = session.execute(_joined(query, n, c, main_nps, main_csat).where(*scope.responses)
                               .group_by(Segment.name).order_by(func.count(Response.id).desc(), Segment.name)
                               .limit(SEGMENTS_SHOWN))
        segments = [{"key": row[0], **_figures(row[1:])} for row in rows]
    return groups[0], groups[1], segments


def week_of(moment: datetime) -> date:
    """The Monday starting the ISO week of `moment`."""
    day = clock.utc(moment).date()
    return day - timedelta(days=day.weekday())


def trend(session: Session, scope: Scope, main_nps: str | None, main_csat: str | None) -> list[dict[str, Any]]:
    """Completed responses per ISO week, with that week's NPS and CSAT (and intervals)."""
    n, c = aliased(Answer), aliased(Answer)
    query = _joined(select(Response.completed_at, n.number, c.number).select_from(Response), n, c, main_nps,
                    main_csat).where(*scope.responses, Response.status == "completed")
    weeks: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    for completed_at, score, rating in session.execute(query):
        counts = weeks[week_of(completed_at)]
        counts[0] += 1
        if score is not None:
            counts[1 if score >= 9 else 2 if score >= 7 else 3] += 1
        if rating is not None:
            counts[4] += rating >= 4
            counts[5] += 1
    rows = []
    for start in sorted(weeks):
        completed, promoters, passives, detractors, satisfied, rated = weeks[start]
        score, share = nps(promoters, passives, detractors), csat(satisfied, rated)
        year, week, _ = start.isocalendar()
        rows.append({"week": f"{year}-W{week:02d}", "start": start, "completed": completed,
                     "nps": score.as_dict() if score else None, "csat": share.as_dict() if share else None})
    return rows


def texts(session: Session, scope: Scope, document: SurveyDocument, *, limit: int | None = None) -> list[
        dict[str, Any]]:
    """Free-text answers and "other" texts, newest first (the contact only for identified surveys)."""
    questions = {question.name: question for _, question in document.questions()}
    query = (select(Answer.question, Answer.text, Answer.answered_at, Response.language, Response.contact_id,
                    Response.channel)
             .join(Response, Response.id == Answer.response_id)
             .where(*scope.answers, Answer.text.is_not(None)).order_by(Answer.answered_at.desc(), Answer.id.desc()))
    if limit is not None:
        query = query.limit(limit)
    rows = []
    for name, text, at, language, contact_id, channel in session.execute(query):
        question = questions.get(name)
        rows.append({"question": name, "question_text": text_for(question.text, language) if question else name,
                     "other": question is not None and question.type != "text", "text": text, "language": language,
                     "channel": channel, "answered_at": at, "contact_id": contact_id})
    return rows
