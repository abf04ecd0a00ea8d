"""Refreshing dynamic segments: materialise the definition, diff it against members in SQL, log entries/exits."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Integer, MetaData, Table, exists, select, text
from sqlalchemy.orm import Session

from core import clock
from core.dialect import analyze, create_temporary_as, is_sqlite
from core.models import Contact, Segment, SegmentSnapshot
from segments.compile_context import tune_for_segments
from segments.compiler import compile_definition, segment_references
from segments.membership import enter, leave, member_count
from segments.service import definition_of, get_segment

STAGE = Table(
    "segment_refresh_stage", MetaData(), Column("contact_id", Integer, primary_key=True), prefixes=["TEMPORARY"]
)


@dataclass(frozen=True)
class RefreshResult:
    """What one refresh changed."""

    segment: str
    entered: int
    exited: int
    size: int
    seconds: float
    refreshed_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"segment": self.segment, "entered": self.entered, "exited": self.exited, "size": self.size,
                "seconds": round(self.seconds, 3), "refreshed_at": self.refreshed_at}


def _fill_stage(session: Session, query: Any) -> None:
    """The current matches, in a per-connection temporary table (computed once, read twice by the diff).

    CREATE TABLE AS (rather than INSERT…SELECT) lets PostgreSQL run the definition with parallel workers."""
    tune_for_segments(session)
    create_temporary_as(session, STAGE.name, query.with_only_columns(Contact.id.label("contact_id")))
    session.execute(text("CREATE UNIQUE INDEX segment_refresh_stage_contact ON segment_refresh_stage (contact_id)"))
    if not is_sqlite(session):
        analyze(session, STAGE)


def _staged(contact_id: Any) -> Any:
    return exists().where(STAGE.c.contact_id == contact_id)


def refresh_segment(session: Session, segment_or_name: Segment | str) -> RefreshResult:
    """Bring a dynamic segment's members up to date in SQL: who left gets `segment.exited`, who joined gets
    `segment.entered` (dedupe key `segment:<id>:<contact>:<change>:<refresh time>`), then size and a snapshot.
    A static segment is only re-counted. The caller commits."""
    started = time.perf_counter()
    segment = segment_or_name if isinstance(segment_or_name, Segment) else get_segment(session, segment_or_name)
    # Two workers refreshing the same segment take turns (row lock on PostgreSQL; SQLite has one writer).
    session.execute(select(Segment.id).where(Segment.id == segment.id).with_for_update())
    at, entered, exited = clock.now(), 0, 0
    if segment.kind == "dynamic":
        _fill_stage(session, compile_definition(session, definition_of(segment)))
        exited = leave(session, segment, _staged, at)
        entered = enter(session, segment, select(STAGE.c.contact_id), at)
        session.execute(text("DROP TABLE segment_refresh_stage"))
    segment.size = member_count(session, segment)
    segment.refreshed_at = at
    session.add(SegmentSnapshot(segment_id=segment.id, measured_at=at, size=segment.size, entered=entered,
                                exited=exited))
    session.flush()
    return RefreshResult(segment.name, entered, exited, segment.size, time.perf_counter() - started, at)


def dependency_order(segments: list[Segment]) -> list[Segment]:
    """Segments ordered so that every segment comes after the segments its definition refers to."""
    by_name = {segment.name: segment for segment in segments}
    ordered: list[Segment] = []
    placed: set[str] = set()

    def place(name: str, trail: frozenset[str]) -> None:
        if name in placed or name in trail or name not in by_name:
            return
        for ref in segment_references(by_name[name].definition):
            place(ref, trail | {name})
        placed.add(name)
        ordered.append(by_name[name])

    for name in sorted(by_name):
        place(name, frozenset())
    return ordered


def refresh_all(session: Session, *, kind: str = "dynamic") -> list[RefreshResult]:
    """Refresh every dynamic segment (dependencies first), flushing after each one."""
    segments = list(session.scalars(select(Segment).where(Segment.kind == kind)))
    return [refresh_segment(session, segment) for segment in dependency_order(segments)]
