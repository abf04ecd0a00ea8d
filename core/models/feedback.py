"""Raw provider webhooks and form posts, stored as received before they are applied."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.models.base import Base


class InboundRequest(Base):
    """A verified webhook request kept raw; `feedback.apply` applies it later, idempotently."""

    __tablename__ = "inbound_requests"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))  # sendgrid | twilio-status | twilio-inbound | ...
    received_at: Mapped[datetime] = mapped_column(default=clock.now)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | applied | failed
    applied_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_inbound_requests_status_id", "status", "id"),)
