"""Lifecycle stages from score thresholds (subscriber → lead → mql → sql), customer on conversion, forward only.

Stages only move forward: a score that decays does not demote an MQL (sales recycles leads by hand), and a
customer is never moved at all. Contacts in a stage outside the ladder (a company's own stage names) are
only ever moved to customer, on conversion. Every move is a `stage.changed` event {from, to} journeys can
trigger on, written set-based.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Integer,
    String,
    and_,
    case,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from core import clock
from core.dialect import create_temporary, drop_temporary
from core.models import Contact, Conversion
from scoring.changes import count_rows, record_changes
from scoring.features import id_batches
from scoring.plan import STAGES, Lifecycle, StageThreshold

RANK = {stage: rank for rank, stage in enumerate(STAGES)}


def _reaches(threshold: StageThreshold | None) -> ColumnElement[bool]:
    if threshold is None:
        return false()
    clauses: list[ColumnElement[bool]] = []
    if threshold.score is not None:
        clauses.append(Contact.score >= threshold.score)
    if threshold.predicted_score is not None:
        clauses.append(Contact.predicted_score >= threshold.predicted_score)
    return or_(*clauses) if clauses else false()


def _converted(lifecycle: Lifecycle) -> ColumnElement[bool]:
    if not lifecycle.customer_on_conversion:
        return false()
    clauses = [Conversion.contact_id == Contact.id]
    if lifecycle.conversion_kinds:
        clauses.append(Conversion.kind.in_(lifecycle.conversion_kinds))
    return exists().where(and_(*clauses))


def target_stage(lifecycle: Lifecycle) -> ColumnElement[str]:
    """The highest stage a contact qualifies for now (NULL when none)."""
    return case(
        (_converted(lifecycle), "customer"),
        (_reaches(lifecycle.sql), "sql"),
        (_reaches(lifecycle.mql), "mql"),
        (_reaches(lifecycle.lead), "lead"),
        else_=None,
    )


def _rank(stage: ColumnElement[Any]) -> ColumnElement[int]:
    return case(*[(stage == name, rank) for name, rank in RANK.items()], else_=-1)


def advance_batch(
    session: Session, lifecycle: Lifecycle, *, id_range: tuple[int, int] | None = None,
    now: datetime | None = None, run_key: str | None = None,
) -> int:
    """Move qualifying live contacts forward (an id range, or all); returns how many moved."""
    now = now or clock.now()
    run_key = run_key or f"stage:{uuid.uuid4().hex[:12]}"
    target = target_stage(lifecycle)
    current = func.coalesce(Contact.lifecycle_stage, literal("subscriber"))
    in_ladder = current.in_(STAGES)
    moves = or_(and_(in_ladder, _rank(target) > _rank(current)), and_(~in_ladder, target == "customer"))
    query = select(Contact.id, current, target).where(Contact.erased_at.is_(None), target.is_not(None), moves)
    if id_range:
        query = query.where(Contact.id.between(*id_range))
    moved = create_temporary(
        session, "scoring_tmp_stage_moves", Column("contact_id", Integer, primary_key=True),
        Column("old_stage", String(32)), Column("new_stage", String(32)),
    )
    session.execute(insert(moved).from_select(["contact_id", "old_stage", "new_stage"], query))
    count = count_rows(session, moved)
    if count:
        record_changes(
            session, moved, event_type="stage.changed", run_key=run_key, at=now,
            properties={"from": moved.c.old_stage, "to": moved.c.new_stage, "reason": "scoring"},
        )
        session.execute(
            update(Contact).where(Contact.id == moved.c.contact_id).values(lifecycle_stage=moved.c.new_stage),
            execution_options={"synchronize_session": False},
        )
    drop_temporary(session, moved)
    return count


def advance_all(
    session: Session, lifecycle: Lifecycle, *, batch_size: int = 50_000, now: datetime | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Apply the lifecycle thresholds to every live contact, batch by batch (each committed)."""
    now = now or clock.now()
    run_key = f"stage:{uuid.uuid4().hex[:12]}"
    moved = 0
    for low, high in id_batches(session, batch_size):
        moved += advance_batch(session, lifecycle, id_range=(low, high), now=now, run_key=run_key)
        session.commit()
        if on_batch:
            on_batch(low, high)
    counts = select(Contact.lifecycle_stage, func.count()).where(Contact.erased_at.is_(None))
    stages = session.execute(counts.group_by(Contact.lifecycle_stage)).tuples().all()
    return {"moved": moved, "stages": {str(key): int(value) for key, value in stages}}
