"""Campaigns, their variants, fixed costs and the send ledger (`Message`, one row per recipient)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.models.base import Base, JSONType, Timestamped


class Campaign(Timestamped, Base):
    """A campaign to a segment over one channel or an ordered fallback of channels."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    # draft | scheduled | planning | sending | paused | completed | cancelled
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    # campaign (sent to a segment) | journey (backs one send step of a journey version: its audience is the
    # enrollments that reach the step, it stays open while the journey runs)
    kind: Mapped[str] = mapped_column(String(16), default="campaign")
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the campaign-as-code document
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id", ondelete="SET NULL"))
    channels: Mapped[list[str]] = mapped_column(JSONType, default=list)
    scheduled_at: Mapped[datetime | None]
    holdout: Mapped[float] = mapped_column(default=0.0)
    budget: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    # Cost of the messages sent or being sent, reserved atomically before each batch goes out (budget cap).
    spent: Mapped[Decimal] = mapped_column(Numeric(14, 4), default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    utm: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status_reason: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


class Variant(Base):
    """One A/B/n arm of a campaign: a template per channel and a weight."""

    __tablename__ = "variants"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(32))
    templates: Mapped[dict[str, Any]] = mapped_column(default=dict)  # channel -> template name
    weight: Mapped[int] = mapped_column(Integer, default=1)
    is_winner: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (UniqueConstraint("campaign_id", "name"),)


class Message(Base):
    """The send ledger: one row per (campaign, contact, rotation); its id is a UUID derived from that key."""

    __tablename__ = "messages"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    channel: Mapped[str] = mapped_column(String(16))
    variant_id: Mapped[int | None] = mapped_column(ForeignKey("variants.id", ondelete="SET NULL"))
    # excluded | held_out | waiting (for the A/B winner) | queued | sending (leased) | unknown (lease expired
    # mid-send: awaiting the provider's word) | sent | delivered | bounced | failed | cancelled
    status: Mapped[str] = mapped_column(String(16), default="queued")
    reason: Mapped[str | None] = mapped_column(String(64))  # exclusion or failure reason
    provider: Mapped[str | None] = mapped_column(String(32))
    provider_message_id: Mapped[str | None] = mapped_column(String(255), index=True)
    cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    parts: Mapped[int] = mapped_column(Integer, default=1)  # SMS segments, letter pages
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]  # not before: schedule, quiet hours, retry backoff, provider grace
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)

    # No separate unique (campaign, contact, rotation) index: the primary key is derived from exactly that triple
    # (campaigns.hashing.message_id), so it is the ledger's unique key — one index fewer to maintain on every write.
    __table_args__ = (
        Index("ix_messages_campaign_status_due", "campaign_id", "status", "next_attempt_at"),
        Index("ix_messages_contact_sent", "contact_id", "sent_at"),
    )


class Cost(Base):
    """A fixed campaign cost (creative, agency, printing...) in its currency."""

    __tablename__ = "costs"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    category: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    incurred_at: Mapped[datetime] = mapped_column(default=clock.now)


class ExchangeRate(Base):
    """How many units of the report currency one unit of `currency` is worth, from `valid_from`."""

    __tablename__ = "exchange_rates"

    id: Mapped[int] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    rate: Mapped[Decimal] = mapped_column(Numeric(18, 8))
    valid_from: Mapped[datetime]

    __table_args__ = (UniqueConstraint("currency", "valid_from"),)
