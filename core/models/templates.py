"""Templates and their immutable versions (per locale), with the compiled output kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.models.base import Base, Timestamped


class Template(Timestamped, Base):
    """A named message template for one channel (email, sms, mail)."""

    __tablename__ = "templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(Text)


class TemplateVersion(Base):
    """One immutable version of a template in one locale: its source and its compiled form."""

    __tablename__ = "template_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    locale: Mapped[str] = mapped_column(String(8))
    source_format: Mapped[str] = mapped_column(String(8))  # mjml | html | txt
    subject: Mapped[str | None] = mapped_column(Text)
    preheader: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    compiled: Mapped[str | None] = mapped_column(Text)  # MJML -> HTML, compiled once
    text_source: Mapped[str | None] = mapped_column(Text)
    checksum: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (UniqueConstraint("template_id", "version", "locale"),)
