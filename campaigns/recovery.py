"""After a crash: expired leases are reconciled, never blindly resent. A message whose send was cut off is
`unknown` until the provider's own feedback (SendGrid `processed`, a Twilio status callback…) proves it went out;
only what the provider never saw is queued again, once a grace period has passed. Channels whose backend is
idempotent by message id (files named after the id) are requeued at once."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, not_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect

from core import clock
from core.db import rowcount
from core.models import Event, Message


@dataclass
class Reconciled:
    """What one reconciliation changed."""

    requeued: int = 0  # idempotent channels: resent straight away
    unknown: int = 0  # leases expired mid-send: now waiting for the provider's word
    confirmed: int = 0  # the provider reported on them: they were sent
    resent: int = 0  # grace over and the provider never saw them: queued again

    def __bool__(self) -> bool:
        return bool(self.requeued or self.unknown or self.confirmed or self.resent)


def _provider_saw(message: type[Message] = Message) -> ColumnElement[bool]:
    """An event about this message that came from the provider (not our own `<channel>.sent`)."""
    return exists().where(Event.message_id == message.id, not_(Event.type.like("%.sent")))


def _first_event_at() -> ScalarSelect[Any]:
    return (select(func.min(Event.occurred_at)).where(Event.message_id == Message.id, not_(Event.type.like("%.sent")))
            .scalar_subquery())


def _run(session: Session, statement: Executable) -> int:
    return rowcount(session.execute(statement, execution_options={"synchronize_session": False}))


def _unit_cost(unit_costs: Mapping[str, Decimal]) -> ColumnElement[Any]:
    return case(*[(Message.channel == channel, literal(price)) for channel, price in unit_costs.items()],
                else_=literal(Decimal(0)))


def reconcile(session: Session, campaign_id: int, *, idempotent_channels: Collection[str], grace_seconds: float,
              unit_costs: Mapping[str, Decimal]) -> Reconciled:
    """Settle the campaign's messages whose fate is unknown; each step is one UPDATE."""
    now = clock.now()
    done = Reconciled()
    expired = and_(Message.campaign_id == campaign_id, Message.status == "sending", Message.lease_expires_at < now)
    cleared = {"lease_owner": None, "lease_expires_at": None, "updated_at": now}
    if idempotent_channels:
        done.requeued = _run(session, update(Message).where(expired, Message.channel.in_(idempotent_channels))
                             .values(status="queued", next_attempt_at=now, **cleared))
    done.unknown = _run(session, update(Message).where(expired).values(
        status="unknown", next_attempt_at=now + timedelta(seconds=grace_seconds), **cleared))
    cost = _unit_cost(unit_costs)
    # The provider's word: `unknown` becomes `sent` (feedback may already have moved it further on).
    done.confirmed = _run(session, update(Message).where(
        Message.campaign_id == campaign_id, Message.status == "unknown", _provider_saw())
        .values(status="sent", sent_at=func.coalesce(Message.sent_at, _first_event_at()),
                cost=func.coalesce(Message.cost, cost), updated_at=now))
    done.resent = _run(session, update(Message).where(
        Message.campaign_id == campaign_id, Message.status == "unknown", Message.next_attempt_at <= now,
        not_(_provider_saw())).values(status="queued", next_attempt_at=now, updated_at=now))
    return done


def settle_recovered(session: Session, campaign_id: int, *, unit_costs: Mapping[str, Decimal]) -> int:
    """When a campaign ends: messages whose send was only proven by feedback (it moved them on from `unknown`)
    get their send time (the provider's first event) and cost. One UPDATE over the campaign's rows."""
    return _run(session, update(Message).where(
        Message.campaign_id == campaign_id, Message.sent_at.is_(None), Message.attempts > 0,
        Message.status.in_(("sent", "delivered", "bounced", "failed")), _provider_saw())
        .values(sent_at=_first_event_at(), cost=func.coalesce(Message.cost, _unit_cost(unit_costs)),
                updated_at=clock.now()))
