"""The survey side of a send: a campaign (or a journey's send step) carrying `survey: NAME` invites every contact
its ledger sends to — one invitation per ledger message, written in one INSERT…SELECT — and its templates get the
invitation's signed link and first question. Reads the core survey tables only; never imports surveys/."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from core import clock
from core.dialect import dialect_insert
from core.models import Invitation, Message, Survey, SurveyVersion, UTCDateTime

INVITED_STATUSES = ("queued", "waiting")  # ledger rows that will go out (held-out and excluded ones are not invited)


class SurveyUnavailable(LookupError):
    """The survey a send names does not exist or no longer takes answers."""


@dataclass(frozen=True)
class SurveyRef:
    """What a send needs of its survey: ids, the version invitations get, its first question, link lifetime."""

    name: str
    survey_id: int
    version_id: int
    first_question: dict[str, Any] | None
    expires_at: datetime | None

    def extra(self, message_id: str, contact_id: int) -> dict[str, Any]:
        """The render extras from which templates.render builds `survey.url` and `survey.first_question`."""
        return {"survey_invitation": message_id, "survey_contact": contact_id,
                "survey_first_question": self.first_question}


def survey_ref(session: Session, name: str) -> SurveyRef:
    """The survey `name` as sends use it; raises SurveyUnavailable when it is missing or closed."""
    survey = session.scalars(select(Survey).where(Survey.name == name)).first()
    if survey is None:
        raise SurveyUnavailable(f"no survey named {name!r} (create it with `relance survey create FILE`)")
    now = clock.now()
    closes = clock.utc(survey.closes_at) if survey.closes_at is not None else None
    if survey.status != "open" or (closes is not None and closes <= now):
        raise SurveyUnavailable(f"survey {name!r} is closed")
    version = session.scalars(select(SurveyVersion).where(SurveyVersion.survey_id == survey.id,
                                                          SurveyVersion.version == survey.current_version)).one()
    expires = now + timedelta(days=survey.link_days)
    return SurveyRef(name, survey.id, version.id, version.first_question,
                     min(expires, closes) if closes is not None else expires)


def invite(session: Session, campaign_id: int, survey: SurveyRef, *, message_filter: Any = None) -> int:
    """One invitation per ledger message of `campaign_id` that will go out (idempotent); returns how many are new.
    `message_filter` narrows the messages (a journey step's new rows)."""
    now = clock.now()
    earlier = aliased(Invitation)
    still_open = (select(earlier.id).where(
        earlier.contact_id == Message.contact_id, earlier.survey_id == survey.survey_id, earlier.resumes.is_(None),
        earlier.completed_at.is_(None), or_(earlier.expires_at.is_(None), earlier.expires_at > now))
        .order_by(earlier.created_at, earlier.id).limit(1))

    def of_open(column: Any) -> Any:  # the same column of the open invitation this one continues, if any
        return still_open.with_only_columns(column).scalar_subquery()

    rows = select(
        Message.id.label("id"), literal(survey.survey_id, Integer).label("survey_id"),
        func.coalesce(of_open(earlier.version_id), literal(survey.version_id, Integer)).label("version_id"),
        Message.contact_id.label("contact_id"), Message.id.label("message_id"),
        Message.campaign_id.label("campaign_id"), Message.channel.label("channel"),
        literal(now, UTCDateTime()).label("created_at"), literal(survey.expires_at, UTCDateTime()).label("expires_at"),
        of_open(earlier.id).label("resumes"), of_open(earlier.started_at).label("started_at"),
    ).where(Message.campaign_id == campaign_id, Message.status.in_(INVITED_STATUSES))
    if message_filter is not None:
        rows = rows.where(message_filter)
    columns = [column.key for column in rows.selected_columns]
    statement = dialect_insert(session)(Invitation.__table__).from_select(columns, rows).on_conflict_do_nothing()
    result = session.connection().execute(statement, execution_options={"preserve_rowcount": True})
    return int(result.rowcount or 0)


def survey_name_of(definition: Any) -> str | None:
    """The survey a campaign or step definition carries (`survey: NAME`), if any."""
    name = getattr(definition, "survey", None)
    return str(name) if name else None

