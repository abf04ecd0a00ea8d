"""Report caches: per sent message, its responses (kept from the timeline by reports.engagement), and cursors."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base


class MessageStat(Base):
    """One sent message: which responses it got (0/1 flags) and when its contact first converted, submitted a lead
    form or replied STOP after it. Funnels sum these instead of scanning the events table."""

    __tablename__ = "message_stats"

    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Integer)
    variant_id: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    contact_id: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime]
    delivered: Mapped[int] = mapped_column(SmallInteger, default=0)
    opened: Mapped[int] = mapped_column(SmallInteger, default=0)  # by a person
    machine_opened: Mapped[int] = mapped_column(SmallInteger, default=0)  # only by privacy proxies / scanners
    clicked: Mapped[int] = mapped_column(SmallInteger, default=0)  # by a person
    unsubscribed: Mapped[int] = mapped_column(SmallInteger, default=0)
    bounced: Mapped[int] = mapped_column(SmallInteger, default=0)  # email bounce or SMS failure after sending
    complained: Mapped[int] = mapped_column(SmallInteger, default=0)
    returned: Mapped[int] = mapped_column(SmallInteger, default=0)  # letter back to sender
    first_conversion_at: Mapped[datetime | None]
    first_lead_at: Mapped[datetime | None]
    first_stop_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_message_stats_campaign_variant", "campaign_id", "variant_id"),
        Index("ix_message_stats_contact_sent", "contact_id", "sent_at"),
    )


class ReportCursor(Base):
    """How far a report cache has read a source table (the last id seen)."""

    __tablename__ = "report_cursors"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime | None]
