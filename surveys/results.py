"""Survey results, read-only and computed in SQL: the invitation funnel, each question's distribution, NPS and CSAT
with 95 % intervals (surveys.stats), optionally for one segment's members and from a date."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.models import Answer, Event, Invitation, Message, Segment, SegmentMembership, Survey
from surveys.breakdowns import Scope, breakdowns, texts, trend
from surveys.definition import SurveyDocument
from surveys.questions import (
    DEFAULT_LABELS,
    MatrixQuestion,
    MultipleChoiceQuestion,
    Question,
    SingleChoiceQuestion,
    text_for,
)
from surveys.service import current_version, document_of, get_survey
from surveys.stats import Estimate, Nps, csat, nps

WENT_OUT = ("sent", "delivered", "unknown", "bounced")  # ledger statuses of an invitation that was sent


@dataclass
class QuestionResult:
    """One question: how many answered it and how (matrix: per row)."""

    name: str
    type: str
    text: str
    respondents: int = 0
    distribution: list[dict[str, Any]] = field(default_factory=list)  # {value, label, count, share}
    mean: float | None = None
    nps: Nps | None = None
    csat: Estimate | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)  # matrix: {row, label, respondents, mean, distribution}

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["nps"] = self.nps.as_dict() if self.nps else None
        data["csat"] = self.csat.as_dict() if self.csat else None
        return data


@dataclass
class SurveyResults:
    """Everything `relance survey results` prints, the dashboard draws and the weekly PDF summarises."""

    survey: str
    title: str
    anonymous: bool
    version: int
    segment: str | None
    since: datetime | None
    invited: int = 0
    delivered: int = 0
    opened: int = 0
    started: int = 0
    completed: int = 0
    questions: list[QuestionResult] = field(default_factory=list)
    trend: list[dict[str, Any]] = field(default_factory=list)
    by_segment: list[dict[str, Any]] = field(default_factory=list)
    by_channel: list[dict[str, Any]] = field(default_factory=list)
    by_language: list[dict[str, Any]] = field(default_factory=list)
    texts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def response_rate(self) -> float | None:
        """Completed responses per invitation sent."""
        return self.completed / self.invited if self.invited else None

    @property
    def nps(self) -> Nps | None:
        """The NPS of the survey's first NPS question."""
        return next((question.nps for question in self.questions if question.nps is not None), None)

    @property
    def csat(self) -> Estimate | None:
        """The CSAT of the survey's first CSAT question."""
        return next((question.csat for question in self.questions if question.csat is not None), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "survey": self.survey, "title": self.title, "anonymous": self.anonymous, "version": self.version,
            "segment": self.segment, "since": self.since, "invited": self.invited, "delivered": self.delivered,
            "opened": self.opened, "started": self.started, "completed": self.completed,
            "response_rate": self.response_rate, "nps": self.nps.as_dict() if self.nps else None,
            "csat": self.csat.as_dict() if self.csat else None,
            "questions": [question.as_dict() for question in self.questions], "trend": self.trend,
            "by_segment": self.by_segment, "by_channel": self.by_channel, "by_language": self.by_language,
            "texts": self.texts,
        }


def _human_open(session: Session) -> ColumnElement[bool]:
    """An `email.opened` event made by a person (mail privacy proxies and scanners are flagged `machine`)."""
    flag = func.json_type(Event.properties, '$."machine"') if session.get_bind().dialect.name == "sqlite" \
        else Event.properties.op("->>")("machine")
    return (Event.type == "email.opened") & (func.coalesce(flag, "") != "true")


def scope_of(session: Session, survey: Survey, segment: str | None, since: datetime | None) -> Scope:
    """What a result reads: the survey's invitations and responses, of `segment`'s members, from `since`."""
    if segment is not None and survey.anonymous:
        raise ValueError(f"survey {survey.name!r} is anonymous: its answers cannot be split by segment")
    members = None
    if segment is not None:
        segment_id = session.scalar(select(Segment.id).where(Segment.name == segment))
        if segment_id is None:
            raise LookupError(f"no segment named {segment!r}")
        members = select(SegmentMembership.contact_id).where(SegmentMembership.segment_id == segment_id)
    return Scope.of(survey, members, since)


def _funnel(session: Session, results: SurveyResults, scope: Scope) -> None:
    went_out = Message.status.in_(WENT_OUT)
    opened = exists().where(Event.message_id == Invitation.message_id, _human_open(session))
    row = session.execute(
        select(func.count(), func.sum(case((Message.status == "delivered", 1), else_=0)),
               func.sum(case((opened, 1), else_=0)), func.count(Invitation.started_at),
               func.count(Invitation.completed_at))
        .select_from(Invitation).join(Message, Message.id == Invitation.message_id)
        .where(*scope.invitations, went_out)).one()
    results.invited, results.delivered, results.opened, results.started, results.completed = (
        int(value or 0) for value in row)


def _label(question: Question, value: Any, language: str) -> str:
    if isinstance(question, SingleChoiceQuestion | MultipleChoiceQuestion):
        options = {option.value: text_for(option.label, language) for option in question.options}
        other = DEFAULT_LABELS["other"].get(language, "other")
        return options.get(str(value), other if value == "other" else str(value))
    if question.type == "yes_no":
        return "yes" if value else "no"
    if isinstance(question, MatrixQuestion) or hasattr(question, "label"):
        return question.label(int(value), language)
    return str(value)


def _distribution(question: Question, counts: Counter[Any], language: str,
                  respondents: int | None = None) -> list[dict[str, Any]]:
    """Count and share of respondents per value, in the question's order (shares of a multiple choice add up to
    more than 100 %)."""
    total = respondents if respondents is not None else sum(counts.values())
    if question.type == "yes_no":
        ordered: list[Any] = [1.0, 0.0]
    elif isinstance(question, SingleChoiceQuestion | MultipleChoiceQuestion):
        ordered = question.values()
    else:
        ordered = [float(value) for value in question.scale() or []]
    values = ordered + [value for value in counts if value not in ordered]
    return [{"value": _plain(value), "label": _label(question, _plain(value), language), "count": counts[value],
             "share": counts[value] / total if total else 0.0} for value in values]


def _plain(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _numbers(session: Session, scope: Scope) -> dict[str, Counter[float]]:
    rows = session.execute(select(Answer.question, Answer.number, func.count())
                           .where(*scope.answers, Answer.number.is_not(None))
                           .group_by(Answer.question, Answer.number))
    found: dict[str, Counter[float]] = defaultdict(Counter)
    for question, number, count in rows:
        found[question][float(number)] += int(count)
    return found


def _choices(session: Session, scope: Scope, names: list[str]) -> tuple[dict[str, Counter[Any]], Counter[str]]:
    """Choices made per question, and how many answered each (a multiple choice counts each option chosen)."""
    found: dict[str, Counter[Any]] = defaultdict(Counter)
    answered: Counter[str] = Counter()
    if not names:
        return found, answered
    for question, value in session.execute(select(Answer.question, Answer.value)
                                           .where(*scope.answers, Answer.question.in_(names))):
        answered[question] += 1
        for item in value if isinstance(value, list) else [value]:
            found[question][item] += 1
    return found, answered


def _question_results(session: Session, document: SurveyDocument, scope: Scope, language: str) -> list[
        QuestionResult]:
    numbers = _numbers(session, scope)
    choice_names = [q.name for _, q in document.questions() if isinstance(q, SingleChoiceQuestion
                                                                           | MultipleChoiceQuestion)]
    choices, answered = _choices(session, scope, choice_names)
    text_counts = dict(session.execute(select(Answer.question, func.count()).where(
        *scope.answers, Answer.number.is_(None), Answer.text.is_not(None)).group_by(Answer.question)).tuples().all())
    results = []
    for _, question in document.questions():
        result = QuestionResult(question.name, question.type, text_for(question.text, language))
        if isinstance(question, MatrixQuestion):
            for row in question.rows:
                counts = numbers.get(f"{question.name}.{row.value}", Counter())
                result.rows.append(_scale_summary(question, counts, language) | {
                    "row": row.value, "label": text_for(row.label, language)})
            result.respondents = max((row["respondents"] for row in result.rows), default=0)
        elif question.type == "text":
            result.respondents = int(text_counts.get(question.name, 0))
        else:
            counts = choices[question.name] if question.name in choices else numbers.get(question.name, Counter())
            result.respondents = answered[question.name] if question.name in choices else sum(counts.values())
            result.distribution = _distribution(question, counts, language, result.respondents)
            if question.scale() is not None:
                result.mean = _mean(counts)
            if question.type == "nps":
                result.nps = nps(*(sum(c for v, c in counts.items() if test(v)) for test in (
                    lambda v: v >= 9, lambda v: 7 <= v <= 8, lambda v: v <= 6)))
            elif question.type == "csat":
                result.csat = csat(sum(c for v, c in counts.items() if v >= 4), result.respondents)
        results.append(result)
    return results


def _mean(counts: Counter[Any]) -> float | None:
    total = sum(counts.values())
    return sum(float(value) * count for value, count in counts.items()) / total if total else None


def _scale_summary(question: Question, counts: Counter[float], language: str) -> dict[str, Any]:
    return {"respondents": sum(counts.values()), "mean": _mean(counts),
            "distribution": _distribution(question, counts, language)}


def survey_results(session: Session, name: str, *, segment: str | None = None, since: datetime | None = None,
                   language: str = "en", texts_limit: int | None = None) -> SurveyResults:
    """The results of survey `name` (its members only with `segment`, from `since` when given)."""
    survey = get_survey(session, name)
    version = current_version(session, survey)
    document = document_of(version)
    language = document.language(language)
    scope = scope_of(session, survey, segment, since)
    results = SurveyResults(survey.name, document.title_in(language), survey.anonymous, version.version, segment,
                            since)
    _funnel(session, results, scope)
    results.questions = _question_results(session, document, scope, language)
    main_nps = next((q.name for _, q in document.questions() if q.type == "nps"), None)
    main_csat = next((q.name for _, q in document.questions() if q.type == "csat"), None)
    results.trend = trend(session, scope, main_nps, main_csat)
    results.by_channel, results.by_language, results.by_segment = breakdowns(
        session, scope, main_nps, main_csat, with_segments=not survey.anonymous)
    results.texts = texts(session, scope, document, limit=texts_limit)
    return results
