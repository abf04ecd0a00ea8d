"""Rule scoring in bulk SQL: fit and negative points, decayed and capped behaviour points, score.changed on change.

Decay: each event is worth `points × 0.5^(age_days / half_life)` = `points × exp(-ln2 · age / half_life)`,
computed in SQL with exp(). PostgreSQL has it; SQLite has it when built with math functions (the Debian and
python.org builds are), and otherwise `scoring.sql.ensure_math` registers a deterministic Python exp() on the
connection — same numbers, slower. Events older than the rule's `within` (default 10 half-lives, < 0.1 % of
the points) are skipped so the index on (contact_id, type, occurred_at) bounds the scan.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, ColumnElement, Float, Integer, and_, case, cast, func, insert, literal, select, update
from sqlalchemy.orm import Session

from core import clock
from core.dialect import create_temporary, drop_temporary, greatest, least
from core.models import Contact, Event
from scoring.changes import count_rows, record_changes
from scoring.features import event_type_in, id_batches
from scoring.plan import BehaviourRule, ConditionRule, ScoringPlan
from scoring.sql import days_before, ensure_math, exp
from segments.compiler import compile_condition

LN2 = math.log(2)


def _condition_points(session: Session, rule: ConditionRule) -> ColumnElement[float]:
    return case((compile_condition(session, rule.when), literal(rule.points, Float)), else_=literal(0.0, Float))


def _is_rule_event(rule: BehaviourRule, now: datetime) -> ColumnElement[bool]:
    clauses = [Event.type == rule.event]
    if rule.horizon is not None:
        clauses.append(Event.occurred_at > now - timedelta(days=rule.horizon))
    if rule.event in ("email.opened", "email.clicked"):  # privacy proxies and link scanners are not people
        clauses.append(func.coalesce(Event.properties["machine"].as_boolean(), False).is_(False))
    for key, value in rule.where.items():
        clauses.append(Event.properties[key].as_string() == str(value))
    return and_(*clauses)


def _event_points(session: Session, rule: BehaviourRule, now: datetime) -> ColumnElement[float]:
    if rule.half_life is None:
        return literal(rule.points, Float)
    age = days_before(session, now, Event.occurred_at)
    return rule.points * exp(-LN2 / rule.half_life * age)


def _behaviour(session: Session, plan: ScoringPlan, now: datetime, id_range: tuple[int, int] | None) -> Any:
    columns: list[Any] = [Event.contact_id.label("contact_id")]
    for number, rule in enumerate(plan.behaviour):
        points = case((_is_rule_event(rule, now), _event_points(session, rule, now)), else_=0.0)
        columns.append(func.sum(points).label(f"b{number}"))
    query = select(*columns).where(
        event_type_in(session, sorted({rule.event for rule in plan.behaviour})), Event.occurred_at <= now,
        Event.contact_id.between(*id_range) if id_range else Event.contact_id.is_not(None),
    )
    return query.group_by(Event.contact_id).subquery("behaviour")


def _capped(session: Session, total: ColumnElement[Any], rule: BehaviourRule) -> ColumnElement[float]:
    total = func.coalesce(total, 0.0)
    if rule.cap is None:
        return total
    if rule.points >= 0:
        return least(session)(total, rule.cap)
    return greatest(session)(total, -rule.cap)


def rule_components(
    session: Session, plan: ScoringPlan, now: datetime, id_range: tuple[int, int] | None = None
) -> tuple[Any, list[str]]:
    """SELECT contact id, current score and one column of points per rule; and the rule labels in order."""
    labels: list[str] = []
    columns: list[Any] = [Contact.id.label("contact_id"), Contact.score.label("old_score")]
    for number, rule in enumerate(plan.fit):
        columns.append(_condition_points(session, rule).label(f"f{number}"))
        labels.append(f"fit: {rule.label}")
    for number, rule in enumerate(plan.negative):
        columns.append(_condition_points(session, rule).label(f"n{number}"))
        labels.append(f"negative: {rule.label}")
    query = select(*columns).where(Contact.erased_at.is_(None))
    if id_range:
        query = query.where(Contact.id.between(*id_range))
    if plan.behaviour:
        behaviour = _behaviour(session, plan, now, id_range)
        query = query.outerjoin(behaviour, behaviour.c.contact_id == Contact.id)
        for number, behaviour_rule in enumerate(plan.behaviour):
            capped = _capped(session, behaviour.c[f"b{number}"], behaviour_rule)
            query = query.add_columns(capped.label(f"b{number}"))
            labels.append(f"behaviour: {behaviour_rule.label}")
    return query, labels


def _new_score(session: Session, plan: ScoringPlan, components: Any) -> ColumnElement[int]:
    parts = [column for column in components.c if column.name not in ("contact_id", "old_score")]
    total: ColumnElement[Any] = sum(parts[1:], parts[0]) if parts else literal(0.0, Float)
    score: ColumnElement[Any] = cast(func.round(total), Integer)
    if plan.min_score is not None:
        score = greatest(session)(score, plan.min_score)
    if plan.max_score is not None:
        score = least(session)(score, plan.max_score)
    return score


def score_batch(
    session: Session, plan: ScoringPlan, *, now: datetime | None = None, id_range: tuple[int, int] | None = None,
    run_key: str | None = None,
) -> int:
    """Recompute rule scores for live contacts (an id range, or all); only changed ones are written.

    Each change also lands on the timeline as a `score.changed` event {from, to, plan}. Returns the number
    of contacts whose score changed.
    """
    now = now or clock.now()
    ensure_math(session)
    run_key = run_key or f"score:{uuid.uuid4().hex[:12]}"
    query, _ = rule_components(session, plan, now, id_range)
    components = query.subquery("components")
    new_score = _new_score(session, plan, components)
    changed = create_temporary(
        session, "scoring_tmp_rule_scores", Column("contact_id", Integer, primary_key=True),
        Column("old_score", Integer), Column("new_score", Integer),
    )
    rows = select(components.c.contact_id, components.c.old_score, new_score).where(
        func.coalesce(components.c.old_score, -(2**31)) != new_score
    )
    session.execute(insert(changed).from_select(["contact_id", "old_score", "new_score"], rows))
    count = count_rows(session, changed)
    if count:
        record_changes(
            session, changed, event_type="score.changed", run_key=run_key, at=now,
            properties={"from": changed.c.old_score, "to": changed.c.new_score, "plan": plan.name},
        )
        session.execute(
            update(Contact).where(Contact.id == changed.c.contact_id).values(score=changed.c.new_score),
            execution_options={"synchronize_session": False},
        )
    drop_temporary(session, changed)
    return count


def score_all(
    session: Session, plan: ScoringPlan, *, batch_size: int = 50_000, now: datetime | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Rule-score every live contact, batch by batch (each committed); returns counts for the summary."""
    now = now or clock.now()
    run_key = f"score:{uuid.uuid4().hex[:12]}"
    batches = id_batches(session, batch_size)
    changed = 0
    for low, high in batches:
        changed += score_batch(session, plan, now=now, id_range=(low, high), run_key=run_key)
        session.commit()
        if on_batch:
            on_batch(low, high)
    return {"plan": plan.name, "batches": len(batches), "changed": changed, "scored_at": now}


def explain_rules(
    session: Session, plan: ScoringPlan, contact_id: int, *, now: datetime | None = None
) -> dict[str, Any]:
    """The points each rule gives one contact right now (what its stored score is made of)."""
    now = now or clock.now()
    ensure_math(session)
    query, labels = rule_components(session, plan, now, (contact_id, contact_id))
    row = session.execute(query).first()
    if row is None:
        raise LookupError(f"contact {contact_id} not found (or erased)")
    points = [round(float(value or 0.0), 2) for value in row[2:]]
    return {
        "contact_id": contact_id, "stored_score": row[1],
        "rules": [{"rule": label, "points": value} for label, value in zip(labels, points, strict=True) if value],
        "total": round(sum(points), 2),
    }
