"""Surveys: definitions and their immutable versions, invitations tied to ledger messages, responses and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.models.base import Base, JSONType, Timestamped


class Survey(Timestamped, Base):
    """A survey as marketers name it; its questions live in versions (a published version never changes)."""

    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[dict[str, Any]] = mapped_column(default=dict)  # language -> title
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed
    anonymous: Mapped[bool] = mapped_column(default=False)
    closes_at: Mapped[datetime | None]
    link_days: Mapped[int] = mapped_column(Integer, default=60)  # how long an invitation's link works
    closed_at: Mapped[datetime | None]
    current_version: Mapped[int] = mapped_column(Integer, default=1)


class SurveyVersion(Base):
    """One immutable version of a survey's document; invitations and responses keep the version they started on."""

    __tablename__ = "survey_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the survey-as-code document, validated
    checksum: Mapped[str] = mapped_column(String(64))
    # What an invitation embeds: the first question's name, type, texts and choices (read by templates through
    # core.links, so templates and campaigns never import surveys/).
    first_question: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (UniqueConstraint("survey_id", "version"),)


class Invitation(Base):
    """A survey invitation: one per ledger message (its id is the message id), with the person's progress.

    For an anonymous survey this is the only place the contact appears: it records the fact of participation
    (started, completed, to the day), never which response is theirs.
    """

    __tablename__ = "survey_invitations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # = messages.id
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("survey_versions.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(16))
    # A reminder sent while an earlier invitation of the same person to the same survey is still open continues
    # that invitation's response (`resumes` = its id); once completed or expired, a new invitation starts afresh.
    resumes: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_survey_invitations_contact_survey", "contact_id", "survey_id"),
        Index("ix_survey_invitations_survey_created", "survey_id", "created_at"),
    )


class Response(Base):
    """One person's answers to one invitation: partial until the last page is saved, then completed.

    `respondent_key` (a keyed hash of the invitation) makes the response unique per invitation in both modes;
    anonymous responses keep neither the invitation nor the contact, and their times only to the day.
    """

    __tablename__ = "survey_responses"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("survey_versions.id", ondelete="CASCADE"))
    respondent_key: Mapped[str] = mapped_column(String(64), unique=True)
    invitation_id: Mapped[str | None] = mapped_column(
        ForeignKey("survey_invitations.id", ondelete="SET NULL"), unique=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    channel: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="partial")  # partial | completed
    next_page: Mapped[int] = mapped_column(Integer, default=0)  # where the link resumes
    started_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    completed_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_survey_responses_survey_status", "survey_id", "status", "completed_at"),)


class Answer(Base):
    """One question's answer in a response: `number` for scales (fast aggregates), `value` as given, `text` for
    free text and "other"."""

    __tablename__ = "survey_answers"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("survey_responses.id", ondelete="CASCADE"))
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(String(64))
    page: Mapped[int] = mapped_column(Integer)
    number: Mapped[float | None] = mapped_column(Float)
    value: Mapped[Any] = mapped_column(JSONType, nullable=True)
    text: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        UniqueConstraint("response_id", "question"),
        Index("ix_survey_answers_survey_question", "survey_id", "question", "number"),
    )
