"""Claiming due enrollments: a batch at one step of one version goes into a per-connection temporary table, locked
for the transaction (PostgreSQL: FOR UPDATE SKIP LOCKED, so any number of workers share a step; SQLite: under a
write lease on the journey, the transaction opened by a write). A worker killed mid-batch commits nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable

from core import clock
from core.dialect import rowcount
from core.models import Contact, Enrollment, Journey, UTCDateTime

_META = MetaData()
BATCH = Table(
    "journey_batch", _META,
    Column("enrollment_id", BigInteger, primary_key=True),
    Column("contact_id", Integer, nullable=False),
    Column("held_out", Boolean),
    Column("entered_at", UTCDateTime()),
    Column("woken", Boolean),
    Column("timezone", String(64)),
    Column("country", String(2)),
    Column("verdict", String(64)),  # goal | an exit reason | erased: the enrollment ends before the step acts
    Column("replayed", Boolean),  # the step log already holds this step: it does not act again
    Column("outcome", String(64)),
    Column("message_id", String(36)),
    Column("next_step", String(64)),
    Column("next_due", UTCDateTime()),
    Column("finished", String(16)),  # completed | converted | exited
    Column("reason", String(64)),
    prefixes=["TEMPORARY"], postgresql_on_commit="DELETE ROWS",
)
B = BATCH.c


_EXISTS = {"sqlite": "SELECT 1 FROM sqlite_temp_master WHERE type = 'table' AND name = 'journey_batch'",
           "postgresql": "SELECT to_regclass('pg_temp.journey_batch')"}


def prepare_batch(session: Session) -> None:
    """The batch table exists on this connection and is empty (PostgreSQL also empties it at each commit). Its
    creation is transactional (a rolled-back batch takes it away), so each claim looks for it first — a catalog
    lookup, cheaper than PostgreSQL's CREATE … IF NOT EXISTS."""
    connection = session.connection()
    if connection.exec_driver_sql(_EXISTS[connection.dialect.name]).scalar() is None:
        connection.execute(CreateTable(BATCH, if_not_exists=True))
    connection.execute(BATCH.delete())


def take_lease(session: Session, journey_id: int, owner: str, seconds: float) -> bool:
    """SQLite: the journey's write lease for `owner` (taken, renewed, or stolen once expired). Being a write, it
    also opens the transaction with the database's write lock, so the batch's reads are never stale. PostgreSQL
    claims rows instead: always true."""
    if session.get_bind().dialect.name != "sqlite":
        return True
    now = clock.now()
    free = or_(Journey.lease_owner.is_(None), Journey.lease_owner == owner, Journey.lease_expires_at < now)
    result = session.execute(update(Journey).where(Journey.id == journey_id, free).values(
        lease_owner=owner, lease_expires_at=now + timedelta(seconds=seconds)),
        execution_options={"synchronize_session": False})
    return rowcount(result) == 1


def release_lease(session: Session, journey_id: int, owner: str) -> None:
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(Journey).where(Journey.id == journey_id, Journey.lease_owner == owner)
                        .values(lease_owner=None, lease_expires_at=None),
                        execution_options={"synchronize_session": False})


def due_query(version_id: int, step: str, now: datetime, limit: int) -> Any:
    """The ids of up to `limit` enrollments due at (version, step), oldest due first (the partial due index)."""
    return (select(Enrollment.id)
            .where(Enrollment.version_id == version_id, Enrollment.step == step, Enrollment.status == "active",
                   Enrollment.due_at <= now)
            .order_by(Enrollment.due_at).limit(limit))


def claim(session: Session, version_id: int, step: str, limit: int) -> int:
    """Fill the batch with up to `limit` enrollments due at (version, step), locked for this transaction; returns
    how many."""
    return claim_ids(session, due_query(version_id, step, clock.now(), limit))


def claim_ids(session: Session, picked: Any, *, skip_locked: bool = True) -> int:
    """Fill the batch with the enrollments of `picked` (a select of enrollment ids), locked for this transaction
    (PostgreSQL skips those another worker holds, or with `skip_locked=False` waits for them); returns how many."""
    prepare_batch(session)
    if session.get_bind().dialect.name == "postgresql":
        picked = picked.with_for_update(skip_locked=skip_locked)
    chosen = picked.subquery("picked")
    erased = case((Contact.erased_at.is_not(None), literal("erased", String)), else_=null())
    rows = (select(Enrollment.id, Enrollment.contact_id, Enrollment.held_out, Enrollment.entered_at,
                   Enrollment.woken_at.is_not(None), Contact.timezone, Contact.country, erased)
            .join(chosen, chosen.c.id == Enrollment.id).join(Contact, Contact.id == Enrollment.contact_id))
    columns = ["enrollment_id", "contact_id", "held_out", "entered_at", "woken", "timezone", "country", "verdict"]
    result = session.connection().execute(insert(BATCH).from_select(columns, rows),
                                          execution_options={"preserve_rowcount": True})
    count = rowcount(result)
    if count and session.get_bind().dialect.name == "postgresql" and count > 1000:
        session.execute(text("ANALYZE journey_batch"))
    return count


def acting() -> Any:
    """Batch rows whose step acts now (not ended by a goal or exit, not already logged)."""
    return and_(B.verdict.is_(None), func.coalesce(B.replayed, False).is_(False))


def any_row(session: Session, condition: Any) -> bool:
    """Whether a batch row meets `condition` (lets a batch skip statements that would change nothing)."""
    return session.scalar(select(BATCH.c.enrollment_id).where(condition).limit(1)) is not None


def acting_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(BATCH).where(acting())) or 0)
