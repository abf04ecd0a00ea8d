"""A campaign's ledger as the dispatcher reads it (open work, next due moment) and its budget, reserved atomically
before each batch goes out. Status changes of ledger rows live in core.ledger."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from core import clock
from core.dialect import greatest, rowcount
from core.ledger import OPEN, MessageStatus
from core.models import Campaign, Message


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
        Message.status.in_(OPEN)).limit(1)) is not None


def unknown_due(session: Session, campaign_id: int) -> bool:
    """Whether some message's grace is over without a word from the provider (it is about to be resent)."""
    return session.scalar(select(Message.id).where(
        Message.campaign_id == campaign_id, Message.status == MessageStatus.UNKNOWN,
        Message.next_attempt_at <= clock.now()).limit(1)) is not None


def next_due(session: Session, campaign_id: int) -> datetime | None:
    """The earliest moment something of this campaign may need work (a due message, a lease or grace ending)."""
    soonest = session.scalar(select(func.min(Message.next_attempt_at)).where(
        Message.campaign_id == campaign_id, Message.status.in_((MessageStatus.QUEUED, MessageStatus.UNKNOWN))))
    lease = session.scalar(select(func.min(Message.lease_expires_at)).where(
        and_(Message.campaign_id == campaign_id, Message.status == MessageStatus.SENDING)))
    moments = [clock.utc(moment) for moment in (soonest, lease) if moment is not None]
    return min(moments, default=None)

