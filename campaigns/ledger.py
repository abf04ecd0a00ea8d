"""The send ledger's state changes in bulk: claiming batches under a lease, recording provider outcomes, releasing
messages, reserving budget — each a set-based statement or one executemany per batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import String, and_, case, func, literal, or_, select, update
from sqlalchemy.orm import Session

from campaigns.rendering import Job
from contacts.fastsql import Bulk
from core import clock
from core.db import greatest, rowcount
from core.models import Campaign, Message, UTCDateTime

# Where a message may be when its send outcome comes back: normally `sending` under our lease; `unknown` or
# `queued` if the lease expired meanwhile (the outcome is the truth: recording it prevents a resend).
RECORDABLE = ("sending", "unknown", "queued")


@dataclass(frozen=True)
class Outcome:
    """What to write for one message after its send."""

    message_id: str
    status: str  # sent | failed | queued (retry)
    provider: str | None = None
    provider_message_id: str | None = None
    cost: Decimal | None = None
    parts: int = 1
    reason: str | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None


def claim(session: Session, campaign_id: int, *, owner: str, lease_seconds: float, limit: int) -> list[Job]:
    """Lease up to `limit` due messages of the campaign (PostgreSQL: FOR UPDATE SKIP LOCKED, so concurrent
    dispatchers never claim the same row; SQLite: the UPDATE runs under the database's single write lock)."""
    now = clock.now()
    due = (select(Message.id)
           .where(Message.campaign_id == campaign_id, Message.status == "queued", Message.next_attempt_at <= now)
           .order_by(Message.next_attempt_at).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    # A CTE, not `id IN (subquery)`: PostgreSQL may re-run an IN subquery and update more than `limit` rows.
    chosen = due.cte("due")
    statement = (
        update(Message).where(Message.id == chosen.c.id, Message.status == "queued")
        .values(status="sending", lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds),
                attempts=Message.attempts + 1, updated_at=now)
        .returning(Message.id, Message.contact_id, Message.channel, Message.variant_id, Message.attempts)
    )
    rows = session.execute(statement, execution_options={"synchronize_session": False}).all()
    return sorted((Job(*row) for row in rows), key=lambda job: job.message_id)


GROUP_UPDATE = 20  # outcomes sharing every value (a batched request) beyond this size: one UPDATE … IN (…)


def record(session: Session, outcomes: Sequence[Outcome]) -> None:
    """Write every outcome: one UPDATE per group of identical outcomes (a batched request shares its provider id
    and price), one executemany for the rest. A row feedback already moved on (a fast `delivered`) keeps its
    status and reason but still gets the provider, cost and send time."""
    now = clock.now()
    groups: dict[tuple[Any, ...], list[Outcome]] = {}
    for outcome in outcomes:
        key = (outcome.status, outcome.provider, outcome.provider_message_id, outcome.cost, outcome.parts,
               outcome.reason, outcome.error, outcome.next_attempt_at)
        groups.setdefault(key, []).append(outcome)
    singles: list[Outcome] = []
    for members in groups.values():
        if len(members) >= GROUP_UPDATE:
            _record_group(session, members[0], [member.message_id for member in members], now)
        else:
            singles += members
    _record_each(session, singles, now)


def _record_group(session: Session, outcome: Outcome, ids: list[str], now: datetime) -> None:
    still_open = Message.status.in_(RECORDABLE)
    session.execute(
        update(Message).where(Message.id.in_(ids), or_(still_open, Message.sent_at.is_(None))).values(
            status=case((still_open, literal(outcome.status, String)), else_=Message.status),
            reason=case((still_open, literal(outcome.reason, String)), else_=Message.reason),
            error=case((still_open, literal(outcome.error, String)), else_=Message.error),
            provider=func.coalesce(literal(outcome.provider, String), Message.provider),
            provider_message_id=func.coalesce(literal(outcome.provider_message_id, String),
                                              Message.provider_message_id),
            cost=outcome.cost, parts=outcome.parts,
            next_attempt_at=func.coalesce(literal(outcome.next_attempt_at, UTCDateTime()), Message.next_attempt_at),
            sent_at=func.coalesce(Message.sent_at, literal(now if outcome.status == "sent" else None, UTCDateTime())),
            updated_at=now, lease_owner=None, lease_expires_at=None),
        execution_options={"synchronize_session": False})


def _record_each(session: Session, outcomes: Sequence[Outcome], now: datetime) -> None:
    open_ = "status IN (" + ", ".join(f"'{status}'" for status in RECORDABLE) + ")"
    rows = [(outcome.status, outcome.reason, outcome.error, outcome.provider, outcome.provider_message_id,
             outcome.cost, outcome.parts, outcome.next_attempt_at, now if outcome.status == "sent" else None, now,
             outcome.message_id) for outcome in outcomes]
    Bulk(session).executemany(
        f"UPDATE messages SET status = CASE WHEN {open_} THEN ? ELSE status END, "
        f"reason = CASE WHEN {open_} THEN ? ELSE reason END, error = CASE WHEN {open_} THEN ? ELSE error END, "
        "provider = COALESCE(?, provider), provider_message_id = COALESCE(?, provider_message_id), cost = ?, "
        "parts = ?, next_attempt_at = COALESCE(?, next_attempt_at), sent_at = COALESCE(sent_at, ?), "
        f"updated_at = ?, lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND ({open_} OR sent_at IS NULL)",
        rows)


def release(session: Session, message_ids: Sequence[str]) -> None:
    """Give leased messages back (not sent: budget reached, campaign paused); their attempt does not count."""
    for start in range(0, len(message_ids), 1000):
        chunk = list(message_ids[start:start + 1000])
        session.execute(update(Message).where(Message.id.in_(chunk), Message.status == "sending")
                        .values(status="queued", lease_owner=None, lease_expires_at=None,
                                attempts=Message.attempts - 1, updated_at=clock.now()),
                        execution_options={"synchronize_session": False})


def reserve(session: Session, campaign_id: int, amount: Decimal, fixed_cost: Decimal) -> bool:
    """Add `amount` to the campaign's spend if that keeps it within budget (atomic across dispatchers)."""
    fits = or_(Campaign.budget.is_(None), Campaign.spent + amount + fixed_cost <= Campaign.budget)
    result = session.execute(update(Campaign).where(Campaign.id == campaign_id, fits)
                             .values(spent=Campaign.spent + amount),
                             execution_options={"synchronize_session": False})
    return rowcount(result) > 0


def refund(session: Session, campaign_id: int, amount: Decimal) -> None:
    """Give back the reservation of messages that were not accepted."""
    if amount:
        session.execute(update(Campaign).where(Campaign.id == campaign_id)
                        .values(spent=greatest(session)(Campaign.spent - amount, 0)),
                        execution_options={"synchronize_session": False})


def remaining_budget(session: Session, campaign_id: int, fixed_cost: Decimal) -> Decimal | None:
    """What is left to spend (None: no budget)."""
    budget, spent = session.execute(select(Campaign.budget, Campaign.spent).where(Campaign.id == campaign_id)).one()
    return None if budget is None else Decimal(budget) - Decimal(spent or 0) - fixed_cost


def has_open_messages(session: Session, campaign_id: int) -> bool:
    """Whether anything is still to send or to settle (queued, waiting, leased or awaiting the provider)."""
    return session.scalar(select(Message.id).where(
        Message.campaign_id == campaign_id,
        Message.status.in_(("queued", "waiting", "sending", "unknown"))).limit(1)) is not None


def unknown_due(session: Session, campaign_id: int) -> bool:
    """Whether some message's grace is over without a word from the provider (it is about to be resent)."""
    return session.scalar(select(Message.id).where(
        Message.campaign_id == campaign_id, Message.status == "unknown",
        Message.next_attempt_at <= clock.now()).limit(1)) is not None


def next_due(session: Session, campaign_id: int) -> datetime | None:
    """The earliest moment something of this campaign may need work (a due message, a lease or grace ending)."""
    soonest = session.scalar(select(func.min(Message.next_attempt_at)).where(
        Message.campaign_id == campaign_id, Message.status.in_(("queued", "unknown"))))
    lease = session.scalar(select(func.min(Message.lease_expires_at)).where(
        and_(Message.campaign_id == campaign_id, Message.status == "sending")))
    moments = [clock.utc(moment) for moment in (soonest, lease) if moment is not None]
    return min(moments, default=None)

