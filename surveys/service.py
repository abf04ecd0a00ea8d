"""Surveys as stored objects: create (a new immutable version when the document changed), find, list with
progress counts, close and reopen."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from core import clock
from core.models import AuditLog, Invitation, Response, Survey, SurveyVersion
from surveys.definition import SurveyDefinitionError, SurveyDocument, parse_survey


class SurveyNotFound(LookupError):
    """No survey has that name (or id)."""


class SurveyStateError(ValueError):
    """The survey's state does not allow what was asked."""


@dataclass(frozen=True)
class Saved:
    """What `create_survey` did."""

    survey: Survey
    version: SurveyVersion
    created: bool  # a new survey
    new_version: bool  # a new version was stored (False: same document as the current version)


def get_survey(session: Session, name_or_id: str | int) -> Survey:
    """The survey with this name (or numeric id)."""
    query = select(Survey).where(Survey.name == str(name_or_id))
    if isinstance(name_or_id, int) or str(name_or_id).isdigit():
        query = select(Survey).where(or_(Survey.name == str(name_or_id), Survey.id == int(name_or_id)))
    survey = session.scalars(query).first()
    if survey is None:
        raise SurveyNotFound(f"no survey named {name_or_id!r} (create it with `relance survey create FILE`)")
    return survey


def current_version(session: Session, survey: Survey) -> SurveyVersion:
    """The version new invitations get."""
    version = session.scalars(select(SurveyVersion).where(SurveyVersion.survey_id == survey.id,
                                                          SurveyVersion.version == survey.current_version)).first()
    assert version is not None, f"survey {survey.name} has no version {survey.current_version}"
    return version


@lru_cache(maxsize=64)
def _parsed(version_id: int, checksum: str, frozen: str) -> SurveyDocument:
    return parse_survey(json.loads(frozen))


def document_of(version: SurveyVersion) -> SurveyDocument:
    """The parsed document of a stored version (parsed once per version and process)."""
    return _parsed(version.id, version.checksum, json.dumps(version.definition, sort_keys=True))


def create_survey(session: Session, document: SurveyDocument | dict[str, Any], *, actor: str = "cli") -> Saved:
    """Store a survey, or a new version of it when the document changed. Invitations and responses keep the
    version they started on. An anonymous survey stays anonymous (and the reverse) once anyone was invited."""
    parsed = document if isinstance(document, SurveyDocument) else parse_survey(document)
    survey = session.scalars(select(Survey).where(Survey.name == parsed.name)).first()
    created = survey is None
    if survey is None:
        survey = Survey(name=parsed.name, current_version=0)
        session.add(survey)
        session.flush()
    elif survey.anonymous != parsed.anonymous and _has_invitations(session, survey):
        raise SurveyDefinitionError([("anonymous", "cannot change once invitations went out: create a new survey "
                                                   "under another name")])
    latest = session.scalars(select(SurveyVersion).where(SurveyVersion.survey_id == survey.id)
                             .order_by(SurveyVersion.version.desc()).limit(1)).first()
    checksum = parsed.checksum()
    new_version = latest is None or latest.checksum != checksum
    if new_version:
        latest = SurveyVersion(survey_id=survey.id, version=(latest.version + 1) if latest else 1,
                               definition=parsed.to_json(), checksum=checksum, first_question=parsed.first_question())
        session.add(latest)
        session.flush()
    assert latest is not None
    survey.title = {language: parsed.title_in(language) for language in parsed.languages}
    survey.anonymous, survey.current_version = parsed.anonymous, latest.version
    survey.closes_at = clock.utc(parsed.closes_at) if parsed.closes_at else None
    survey.link_days = parsed.link_days().days
    if new_version:
        session.add(AuditLog(actor=actor, action="survey.created" if created else "survey.versioned",
                             target=survey.name, details={"version": latest.version}))
    session.flush()
    return Saved(survey, latest, created, new_version)


def _has_invitations(session: Session, survey: Survey) -> bool:
    return session.scalar(select(Invitation.id).where(Invitation.survey_id == survey.id).limit(1)) is not None


def is_open(survey: Survey, at: datetime | None = None) -> bool:
    """Whether the survey still takes answers."""
    moment = at or clock.now()
    return survey.status == "open" and (survey.closes_at is None or clock.utc(survey.closes_at) > moment)


def close_survey(session: Session, survey: Survey, *, actor: str = "cli") -> Survey:
    """Stop taking answers now (links then show a "survey closed" page; results stay)."""
    if survey.status == "closed":
        raise SurveyStateError(f"survey {survey.name!r} is already closed")
    survey.status, survey.closed_at = "closed", clock.now()
    session.add(AuditLog(actor=actor, action="survey.closed", target=survey.name, details={}))
    session.flush()
    return survey


def reopen_survey(session: Session, survey: Survey, *, actor: str = "cli") -> Survey:
    """Take answers again (until `closes_at`, when the document has one)."""
    if survey.status == "open":
        raise SurveyStateError(f"survey {survey.name!r} is open")
    if survey.closes_at is not None and clock.utc(survey.closes_at) <= clock.now():
        raise SurveyStateError(f"survey {survey.name!r} closed on {survey.closes_at:%Y-%m-%d}: change closes_at in "
                               "its document and create it again")
    survey.status, survey.closed_at = "open", None
    session.add(AuditLog(actor=actor, action="survey.reopened", target=survey.name, details={}))
    session.flush()
    return survey


def list_surveys(session: Session) -> list[dict[str, Any]]:
    """Every survey with its version and progress counts (two grouped queries)."""
    invited = dict(session.execute(select(Invitation.survey_id, func.count()).group_by(Invitation.survey_id))
                   .tuples().all())
    responses = {row[0]: (row[1], row[2]) for row in session.execute(
        select(Response.survey_id, func.count(), func.sum(case((Response.status == "completed", 1), else_=0)))
        .group_by(Response.survey_id))}
    rows = []
    for survey in session.scalars(select(Survey).order_by(Survey.created_at.desc(), Survey.id.desc())):
        started, completed = responses.get(survey.id, (0, 0))
        rows.append({"name": survey.name, "title": survey.title, "version": survey.current_version,
                     "status": survey.status if is_open(survey) or survey.status == "closed" else "closed",
                     "anonymous": survey.anonymous, "closes_at": survey.closes_at,
                     "invitations": int(invited.get(survey.id, 0)), "responses": int(started or 0),
                     "completed": int(completed or 0)})
    return rows
