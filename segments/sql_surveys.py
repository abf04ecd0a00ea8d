"""Compiles survey conditions: a contact's invitations to a survey and how far they got (invited, started,
completed) — the reminder audience of a survey is `{survey: NAME, status: invited}`."""

from __future__ import annotations

from sqlalchemy import exists, or_, select
from sqlalchemy.sql.elements import ColumnElement

from core.models import Contact, Invitation, Message, Survey
from segments.language import SurveyCondition

# Ledger statuses of an invitation that went out (or may have: `unknown` awaits the provider's word).
SENT = ("sent", "delivered", "unknown")


def _status(status: str) -> ColumnElement[bool]:
    if status == "completed":
        return Invitation.completed_at.is_not(None)
    if status == "started":
        return Invitation.started_at.is_not(None) & Invitation.completed_at.is_(None)
    went_out = exists().where(Message.id == Invitation.message_id, Message.status.in_(SENT))
    return Invitation.started_at.is_(None) & went_out


def survey_condition(node: SurveyCondition) -> ColumnElement[bool]:
    """EXISTS an invitation of the contact to the survey in one of the node's statuses."""
    survey_id = select(Survey.id).where(Survey.name == node.survey).scalar_subquery()
    return exists().where(Invitation.contact_id == Contact.id, Invitation.survey_id == survey_id,
                          or_(*(_status(status) for status in node.status)))
