"""Segments (dynamic definitions or static lists), their materialised members and size history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.models.base import Base, Timestamped


class Segment(Timestamped, Base):
    """A named audience: `dynamic` (a definition, refreshed) or `static` (a list filled by hand/import)."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), default="dynamic")  # dynamic | static
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    size: Mapped[int] = mapped_column(Integer, default=0)
    refreshed_at: Mapped[datetime | None]


class SegmentMembership(Base):
    """A contact currently in a segment, since `entered_at`."""

    __tablename__ = "segment_memberships"

    segment_id: Mapped[int] = mapped_column(
        ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    entered_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (Index("ix_segment_memberships_contact", "contact_id"),)


class SegmentSnapshot(Base):
    """The size of a segment after each refresh (sizes over time in the dashboard)."""

    __tablename__ = "segment_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"), index=True)
    measured_at: Mapped[datetime] = mapped_column(default=clock.now)
    size: Mapped[int] = mapped_column(Integer)
    entered: Mapped[int] = mapped_column(Integer, default=0)
    exited: Mapped[int] = mapped_column(Integer, default=0)
