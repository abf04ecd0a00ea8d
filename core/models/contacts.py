"""Contacts, accounts (companies and groups), tags and the per-contact engagement counters."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, JSONType, Timestamped


class Account(Timestamped, Base):
    """A company; `parent_id` groups subsidiaries under a parent company."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    name_key: Mapped[str] = mapped_column(String(255), unique=True)  # normalised name, for dedup
    domain: Mapped[str | None] = mapped_column(String(255), index=True)
    industry: Mapped[str | None] = mapped_column(String(120))
    size: Mapped[int | None] = mapped_column(Integer)
    country: Mapped[str | None] = mapped_column(String(2))
    city: Mapped[str | None] = mapped_column(String(120))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Contact(Timestamped, Base):
    """A person Relance can reach; custom fields live in `attributes`, never in new columns."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32), index=True)  # E.164
    first_name: Mapped[str | None] = mapped_column(String(120))
    last_name: Mapped[str | None] = mapped_column(String(120))
    company: Mapped[str | None] = mapped_column(String(255))
    job_title: Mapped[str | None] = mapped_column(String(255))
    language: Mapped[str | None] = mapped_column(String(8))
    country: Mapped[str | None] = mapped_column(String(2), index=True)  # ISO 3166-1 alpha-2
    timezone: Mapped[str | None] = mapped_column(String(64))
    birth_date: Mapped[date | None]
    address_line1: Mapped[str | None] = mapped_column(String(255))
    address_line2: Mapped[str | None] = mapped_column(String(255))
    address_line3: Mapped[str | None] = mapped_column(String(255))
    postcode: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(120))
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    lifecycle_stage: Mapped[str] = mapped_column(String(32), default="subscriber", index=True)
    source: Mapped[str | None] = mapped_column(String(120))
    utm_source: Mapped[str | None] = mapped_column(String(255))
    utm_medium: Mapped[str | None] = mapped_column(String(255))
    utm_campaign: Mapped[str | None] = mapped_column(String(255))
    utm_term: Mapped[str | None] = mapped_column(String(255))
    utm_content: Mapped[str | None] = mapped_column(String(255))
    referrer: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Reachability of each address: valid | invalid | unknown.
    email_status: Mapped[str] = mapped_column(String(16), default="unknown")
    sms_status: Mapped[str] = mapped_column(String(16), default="unknown")
    mail_status: Mapped[str] = mapped_column(String(16), default="unknown")
    score: Mapped[int] = mapped_column(Integer, default=0, index=True)
    predicted_score: Mapped[float | None]
    grade: Mapped[str | None] = mapped_column(String(2))
    score_reasons: Mapped[list[Any] | None] = mapped_column(JSONType)
    erased_at: Mapped[datetime | None]


class Tag(Base):
    """A label marketers put on contacts."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)


class ContactTag(Base):
    """Which contact carries which tag."""

    __tablename__ = "contact_tags"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)

    __table_args__ = (Index("ix_contact_tags_tag_contact", "tag_id", "contact_id"),)


class ContactEventStat(Base):
    """Hot per-contact aggregate per event type (all-time count, first and last time), kept incrementally."""

    __tablename__ = "contact_event_stats"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    type: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    # Sum of a numeric property where the event type has one (e.g. conversion amounts).
    total: Mapped[Decimal] = mapped_column(Numeric(16, 4), default=0)

    __table_args__ = (Index("ix_contact_event_stats_type_last", "type", "last_at"),)
