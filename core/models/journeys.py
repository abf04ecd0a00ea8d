"""Nurturing journeys: the journey, its immutable published versions and their steps, enrollments (one row per
journey, contact and entry) and the step log (one row per enrollment, step and visit)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.models.base import Base, Timestamped

ACTIVE = "active"
BIG_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite only auto-increments INTEGER PRIMARY KEY


class Journey(Timestamped, Base):
    """A journey as marketers edit it: a draft document, the live version number, its status and trigger cursor."""

    __tablename__ = "journeys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    # draft (never published) | live | paused | archived
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    status_reason: Mapped[str | None] = mapped_column(Text)
    draft: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the document being edited
    current_version: Mapped[int | None] = mapped_column(Integer)  # the number new enrollments enter
    live_since: Mapped[datetime | None]  # events before this moment never trigger the journey
    events_scanned_until: Mapped[datetime | None]  # triggers and wake-ups have seen events up to here
    goals_swept_at: Mapped[datetime | None]  # the last check of goal / exit conditions over every enrollment
    trigger_state: Mapped[dict[str, Any]] = mapped_column(default=dict)  # date triggers: last local day per zone
    # SQLite: one advancing worker per journey at a time (a write lease); PostgreSQL claims rows instead.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]


class JourneyVersion(Base):
    """A published, frozen journey document; enrollments stay on the version they entered."""

    __tablename__ = "journey_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    published_at: Mapped[datetime] = mapped_column(default=clock.now)
    published_by: Mapped[str | None] = mapped_column(String(120))

    __table_args__ = (UniqueConstraint("journey_id", "number"),)


class JourneyStep(Base):
    """One step of a version; a send step is backed by a campaign row of its own (its ledger and dispatcher)."""

    __tablename__ = "journey_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("journey_versions.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # send | wait | branch | update | exit
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"), index=True)

    __table_args__ = (UniqueConstraint("version_id", "step"),)


class Enrollment(Base):
    """A contact's passage through a journey: where it is, when it is due, and how it ended."""

    __tablename__ = "enrollments"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("journey_versions.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    entry_key: Mapped[str] = mapped_column(String(64))  # "once", or the occurrence that enrolled the contact
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)  # active | completed | converted | exited
    step: Mapped[str] = mapped_column(String(64))  # the current step (the last one once finished)
    due_at: Mapped[datetime | None]  # when the current step acts next (NULL once finished)
    arrived_at: Mapped[datetime]  # when it reached the current step (event waits count events from here)
    woken_at: Mapped[datetime | None]  # the event an event wait listens for arrived
    held_out: Mapped[bool] = mapped_column(default=False)  # the journey's holdout: enrolled, receives nothing
    entered_at: Mapped[datetime]
    exited_at: Mapped[datetime | None]
    exit_reason: Mapped[str | None] = mapped_column(String(64))

    # Four indexes only: every move rewrites the due index, and on PostgreSQL a move that changes an indexed
    # column writes a new entry into every index of the table.
    __table_args__ = (
        # One enrollment per contact, journey and entry (contact first: it also serves lookups by contact).
        UniqueConstraint("contact_id", "journey_id", "entry_key"),
        # One active enrollment per contact and journey, whatever the entry.
        Index("uq_enrollments_active_contact", "journey_id", "contact_id", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
        # The claim: due enrollments at one step of one version, oldest first.
        Index("ix_enrollments_due", "version_id", "step", "due_at",
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
    )


class EnrollmentStep(Base):
    """The step log: one row per enrollment, step and visit (its key) — a step never runs twice for an enrollment.
    `version_id` is the version whose step ran (no foreign key: the enrollment's own keeps versions alive)."""

    __tablename__ = "enrollment_steps"

    enrollment_id: Mapped[int] = mapped_column(BIG_ID, ForeignKey("enrollments.id", ondelete="CASCADE"),
                                               primary_key=True)
    step: Mapped[str] = mapped_column(String(64), primary_key=True)
    visit: Mapped[int] = mapped_column(Integer, primary_key=True, default=1, autoincrement=False)
    version_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(64))  # ledger status, branch taken, wait end, ...
    next_step: Mapped[str | None] = mapped_column(String(64))  # where it went (NULL: the journey ended there)
    message_id: Mapped[str | None] = mapped_column(String(36))  # the send step's ledger row
    at: Mapped[datetime]

    __table_args__ = (Index("ix_enrollment_steps_version_step", "version_id", "step", "next_step"),)
