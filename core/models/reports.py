"""Report caches kept by reports/ from the ledger and the timeline: per sent message, per day, touches, cursors."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, Numeric, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base


class MessageStat(Base):
    """One sent message: what the ledger said when it went out (cost, parts, provider, planning time), which
    responses it got (0/1 flags) and when its contact first converted, submitted a lead form or replied STOP
    after it. Reports read these narrow rows (and their daily sums) instead of the ledger and the timeline."""

    __tablename__ = "message_stats"

    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Integer)
    variant_id: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str | None] = mapped_column(String(32))
    contact_id: Mapped[int] = mapped_column(Integer)
    planned_at: Mapped[datetime]  # the ledger row's created_at
    sent_at: Mapped[datetime]
    cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))  # in the campaign's currency
    parts: Mapped[int] = mapped_column(Integer, default=1)
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
        Index("ix_message_stats_campaign_sent", "campaign_id", "sent_at"),
        Index("ix_message_stats_contact_sent", "contact_id", "sent_at"),
    )


class SendDay(Base):
    """The sums of message_stats per campaign, variant, channel, provider, UTC day sent and UTC day planned.

    Kept with every change of message_stats. `variant_key` 0 and `provider_key` '' stand for none (a key column
    cannot be NULL). converted / leads / stopped count the messages, not bounced, whose contact did so within the
    attribution window the cache was built for (`report_cursors` 'window_ms')."""

    __tablename__ = "report_send_days"

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    variant_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    provider_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    sent_on: Mapped[date] = mapped_column(primary_key=True)
    planned_on: Mapped[date] = mapped_column(primary_key=True)
    messages: Mapped[int] = mapped_column(BigInteger, default=0)
    costed: Mapped[int] = mapped_column(BigInteger, default=0)  # messages with a cost
    cost_units: Mapped[int] = mapped_column(BigInteger, default=0)  # cost in 1/10,000 of the campaign currency
    delivered: Mapped[int] = mapped_column(BigInteger, default=0)
    opened: Mapped[int] = mapped_column(BigInteger, default=0)
    machine_opened: Mapped[int] = mapped_column(BigInteger, default=0)
    clicked: Mapped[int] = mapped_column(BigInteger, default=0)
    unsubscribed: Mapped[int] = mapped_column(BigInteger, default=0)
    bounced: Mapped[int] = mapped_column(BigInteger, default=0)
    complained: Mapped[int] = mapped_column(BigInteger, default=0)
    returned: Mapped[int] = mapped_column(BigInteger, default=0)
    converted: Mapped[int] = mapped_column(BigInteger, default=0)
    leads: Mapped[int] = mapped_column(BigInteger, default=0)
    stopped: Mapped[int] = mapped_column(BigInteger, default=0)


class LedgerDay(Base):
    """Ledger rows per campaign, variant, channel, kind (excluded | held_out | waiting | planned: every other
    status) and UTC day planned. A campaign's rows are counted again when its ledger's rows, excluded, held out and
    waiting totals (read from the status index) no longer match these counts."""

    __tablename__ = "report_ledger_days"

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    variant_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    planned_on: Mapped[date] = mapped_column(primary_key=True)
    messages: Mapped[int] = mapped_column(BigInteger, default=0)


class Touch(Base):
    """A sent, not bounced message to a converting contact within the attribution window before the conversion
    (the window the cache was built for). Attribution shares each conversion between its touches."""

    __tablename__ = "report_touches"

    conversion_id: Mapped[int] = mapped_column(ForeignKey("conversions.id", ondelete="CASCADE"), primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("message_stats.message_id", ondelete="CASCADE"),
                                            primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    sent_at: Mapped[datetime]
    occurred_at: Mapped[datetime]  # the conversion's

    __table_args__ = (Index("ix_report_touches_message", "message_id"),)


class ReportCursor(Base):
    """How far a report cache has read a source table (the last id seen), or a setting it was built with."""

    __tablename__ = "report_cursors"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime | None]
