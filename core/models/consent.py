"""Consent per channel and topic with its proof, and suppressions kept by hashed address."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.models.base import Base


class Consent(Base):
    """The current consent of one contact for one channel and topic, with the proof of how it was given.

    Every change is also written to the timeline as a `consent.changed` event carrying the same proof,
    so the history survives later changes.
    """

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))  # email | sms | mail
    topic: Mapped[str] = mapped_column(String(64), default="marketing")
    status: Mapped[str] = mapped_column(String(16))  # granted | withdrawn | pending
    source: Mapped[str | None] = mapped_column(String(255))  # import file, form name, API, ...
    form: Mapped[str | None] = mapped_column(String(120))
    wording_version: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (UniqueConstraint("contact_id", "channel", "topic"),)


class Suppression(Base):
    """An address that must never be contacted again on a channel; kept hashed so it survives erasure."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    address_hash: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(64))  # hard_bounce | complaint | unsubscribe | erased | ...
    source: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (UniqueConstraint("channel", "address_hash"),)
