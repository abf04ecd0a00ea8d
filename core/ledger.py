"""The send ledger's statuses and every change of a message's status, each a set-based statement.

Campaigns (planning, dispatch, recovery, A/B winner, cancel), feedback (provider statuses, returned mail) and
journeys change a ledger row's status only through this module, so the state machine is read in one place:

    excluded · held_out                                   (planned, never sent)
    waiting ──winner──▶ queued ──claim──▶ sending ──outcome──▶ sent ──feedback──▶ delivered │ bounced │ failed
                          ▲   ◀──release/retry──┘   └──lease expired──▶ unknown ──provider saw it──▶ sent
                          └──────────────────grace over, provider never saw it──┘
    queued · waiting ──cancel──▶ cancelled
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, exists, func, literal, not_, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import ScalarSelect

from core import clock
from core.bulk import Bulk
from core.dialect import is_sqlite, member, rowcount
from core.models import Event, Message, UTCDateTime


class MessageStatus(StrEnum):
    """Where a ledger row is. `rank` orders the statuses a send goes through: a provider's report only moves a
    message to a higher rank, so a late `delivered` never overwrites `bounced` and duplicates change nothing."""

    EXCLUDED = "excluded"  # planned out: no consent, suppressed, capped, quiet hours… (`reason` says which)
    HELD_OUT = "held_out"  # the control group: never sent, measured
    WAITING = "waiting"  # held until the A/B test picks a winner
    QUEUED = "queued"  # due from `next_attempt_at`
    SENDING = "sending"  # claimed by a dispatcher under a lease
    UNKNOWN = "unknown"  # its send was cut off: awaiting the provider's word before any resend
    SENT = "sent"  # the provider accepted it
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def rank(self) -> int:
        return _RANK.get(self, 0)


_RANK = {MessageStatus.SENDING: 1, MessageStatus.UNKNOWN: 1, MessageStatus.SENT: 2, MessageStatus.DELIVERED: 3,
         MessageStatus.BOUNCED: 4, MessageStatus.FAILED: 4}

S = MessageStatus
# Still to send or to settle: a campaign with such rows is not done.
OPEN = (S.QUEUED, S.WAITING, S.SENDING, S.UNKNOWN)
# Not claimed yet: what a cancel stops and a re-plan re-times.
UNCLAIMED = (S.QUEUED, S.WAITING)
# Went out (as far as we know).
WENT_OUT = (S.SENT, S.DELIVERED, S.BOUNCED)
# Never reached the contact: not a touch, not in the treated funnel.
NOT_DELIVERED = (S.BOUNCED, S.FAILED)
# Where a message may be when its send outcome comes back: normally `sending` under our lease; `unknown` or
# `queued` if the lease expired meanwhile (the outcome is the truth: recording it prevents a resend).
RECORDABLE = (S.SENDING, S.UNKNOWN, S.QUEUED)


@dataclass(frozen=True)
class Claimed:
    """One ledger row a dispatcher leased: its id, contact, channel, variant and how many attempts it has had."""

    message_id: str
    contact_id: int
    channel: str
    variant_id: int | None
    attempts: int = 1


@dataclass(frozen=True)
class Outcome:
    """What to write for one message after its send."""

    message_id: str
    status: MessageStatus  # sent | failed | unknown | queued (retry)
    provider: str | None = None
    provider_message_id: str | None = None
    cost: Decimal | None = None
    parts: int = 1
    reason: str | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None


def _run(session: Session, statement: Any) -> int:
    return rowcount(session.execute(statement, execution_options={"synchronize_session": False}))


# -- dispatch -----------------------------------------------------------------------------------------------------


def claim(session: Session, campaign_id: int, *, owner: str, lease_seconds: float, limit: int) -> list[Claimed]:
    """queued → sending: lease up to `limit` due messages of the campaign (PostgreSQL: FOR UPDATE SKIP LOCKED, so
    concurrent dispatchers never claim the same row; SQLite: the UPDATE runs under the database's write lock)."""
    now = clock.now()
    due = (select(Message.id)
           .where(Message.campaign_id == campaign_id, Message.status == S.QUEUED, Message.next_attempt_at <= now)
           .order_by(Message.next_attempt_at).limit(limit))
    if not is_sqlite(session):
        due = due.with_for_update(skip_locked=True)
    # A CTE, not `id IN (subquery)`: PostgreSQL may re-run an IN subquery and update more than `limit` rows.
    chosen = due.cte("due")
    statement = (
        update(Message).where(Message.id == chosen.c.id, Message.status == S.QUEUED)
        .values(status=S.SENDING, lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds),
                attempts=Message.attempts + 1, updated_at=now)
        .returning(Message.id, Message.contact_id, Message.channel, Message.variant_id, Message.attempts)
    )
    rows = session.execute(statement, execution_options={"synchronize_session": False}).all()
    return sorted((Claimed(*row) for row in rows), key=lambda job: job.message_id)


GROUP_UPDATE = 20  # outcomes sharing every value (a batched request) beyond this size: one UPDATE … IN (…)


def record(session: Session, outcomes: Sequence[Outcome]) -> None:
    """sending (or unknown, queued) → the outcome's status: one UPDATE per group of identical outcomes (a batched
    request shares its provider id and price), one executemany for the rest. A row feedback already moved on (a
    fast `delivered`) keeps its status and reason but still gets the provider, cost and send time."""
    now = clock.now()
    groups: dict[tuple[Any, ...], list[Outcome]] = {}
    for outcome in outcomes:
        key = (outcome.status, outcome.provider, outcome.provider_message_id, outcome.cost, outcome.parts,
               outcome.reason, outcome.error, outcome.next_attempt_at)
        groups.setdefault(key, []).append(outcome)
    singles: list[Outcome] = []
    for members in groups.values():
        if len(members) >= GROUP_UPDATE:
            _record_group(session, members[0], [item.message_id for item in members], now)
        else:
            singles += members
    _record_each(session, singles, now)


def _record_group(session: Session, outcome: Outcome, ids: list[str], now: datetime) -> None:
    still_open = Message.status.in_(RECORDABLE)
    _run(session, update(Message).where(Message.id.in_(ids), or_(still_open, Message.sent_at.is_(None))).values(
        status=case((still_open, literal(str(outcome.status), String)), else_=Message.status),
        reason=case((still_open, literal(outcome.reason, String)), else_=Message.reason),
        error=case((still_open, literal(outcome.error, String)), else_=Message.error),
        provider=func.coalesce(literal(outcome.provider, String), Message.provider),
        provider_message_id=func.coalesce(literal(outcome.provider_message_id, String), Message.provider_message_id),
        cost=outcome.cost, parts=outcome.parts,
        next_attempt_at=func.coalesce(literal(outcome.next_attempt_at, UTCDateTime()), Message.next_attempt_at),
        sent_at=func.coalesce(Message.sent_at, literal(now if outcome.status == S.SENT else None, UTCDateTime())),
        updated_at=now, lease_owner=None, lease_expires_at=None))


def _record_each(session: Session, outcomes: Sequence[Outcome], now: datetime) -> None:
    open_ = "status IN (" + ", ".join(f"'{status}'" for status in RECORDABLE) + ")"
    rows = [(str(outcome.status), outcome.reason, outcome.error, outcome.provider, outcome.provider_message_id,
             outcome.cost, outcome.parts, outcome.next_attempt_at, now if outcome.status == S.SENT else None, now,
             outcome.message_id) for outcome in outcomes]
    Bulk(session).executemany(
        f"UPDATE messages SET status = CASE WHEN {open_} THEN ? ELSE status END, "
        f"reason = CASE WHEN {open_} THEN ? ELSE reason END, error = CASE WHEN {open_} THEN ? ELSE error END, "
        "provider = COALESCE(?, provider), provider_message_id = COALESCE(?, provider_message_id), cost = ?, "
        "parts = ?, next_attempt_at = COALESCE(?, next_attempt_at), sent_at = COALESCE(sent_at, ?), "
        f"updated_at = ?, lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND ({open_} OR sent_at IS NULL)",
        rows)


def release(session: Session, message_ids: Sequence[str]) -> None:
    """sending → queued: leased messages given back unsent (budget reached, campaign paused); the attempt does
    not count."""
    for start in range(0, len(message_ids), 1000):
        chunk = list(message_ids[start:start + 1000])
        _run(session, update(Message).where(Message.id.in_(chunk), Message.status == S.SENDING)
             .values(status=S.QUEUED, lease_owner=None, lease_expires_at=None, attempts=Message.attempts - 1,
                     updated_at=clock.now()))


# -- planning, A/B winner, cancel ---------------------------------------------------------------------------------


def retime_unclaimed(session: Session, campaign_id: int, which: ColumnElement[bool], *,
                     not_before: datetime | None, quiet_hours: bool) -> int:
    """Unclaimed messages of the campaign that `which` selects: due from `not_before`, or — their send time falls
    after the send window — queued/waiting → excluded (`quiet_hours`)."""
    values: dict[str, Any] = ({"status": S.EXCLUDED, "reason": "quiet_hours", "variant_id": None} if quiet_hours
                              else {"next_attempt_at": not_before})
    return _run(session, update(Message).where(Message.campaign_id == campaign_id, Message.status.in_(UNCLAIMED),
                                               which).values(**values))


def release_waiting(session: Session, campaign_id: int, *, variant_id: int, not_before: Any) -> int:
    """waiting → queued: the A/B test's winner goes to every message held for it."""
    now = clock.now()
    return _run(session, update(Message).where(Message.campaign_id == campaign_id, Message.status == S.WAITING)
                .values(status=S.QUEUED, variant_id=variant_id, next_attempt_at=not_before, updated_at=now))


def cancel_unclaimed(session: Session, campaign_id: int) -> int:
    """queued/waiting → cancelled: a campaign stopped by hand; what is sent stays as it is."""
    return _run(session, update(Message).where(Message.campaign_id == campaign_id, Message.status.in_(UNCLAIMED))
                .values(status=S.CANCELLED, reason="cancelled", updated_at=clock.now()))


# -- recovery after a crash (campaigns.recovery decides when) -----------------------------------------------------


def _provider_saw() -> ColumnElement[bool]:
    """An event about this message that came from the provider (not our own `<channel>.sent`)."""
    return exists().where(Event.message_id == Message.id, not_(Event.type.like("%.sent")))


def _first_event_at() -> ScalarSelect[Any]:
    return (select(func.min(Event.occurred_at)).where(Event.message_id == Message.id, not_(Event.type.like("%.sent")))
            .scalar_subquery())


def _unit_cost(unit_costs: Mapping[str, Decimal]) -> ColumnElement[Any]:
    return case(*[(Message.channel == channel, literal(price)) for channel, price in unit_costs.items()],
                else_=literal(Decimal(0)))


def expire_leases(session: Session, campaign_id: int, *, idempotent_channels: Collection[str],
                  grace_seconds: float) -> tuple[int, int]:
    """sending (lease expired) → queued at once on channels whose backend is idempotent by message id, else →
    unknown until the provider's word or the grace's end; returns (requeued, unknown)."""
    now = clock.now()
    expired = and_(Message.campaign_id == campaign_id, Message.status == S.SENDING, Message.lease_expires_at < now)
    cleared = {"lease_owner": None, "lease_expires_at": None, "updated_at": now}
    requeued = 0
    if idempotent_channels:
        requeued = _run(session, update(Message).where(expired, Message.channel.in_(idempotent_channels))
                        .values(status=S.QUEUED, next_attempt_at=now, **cleared))
    unknown = _run(session, update(Message).where(expired).values(
        status=S.UNKNOWN, next_attempt_at=now + timedelta(seconds=grace_seconds), **cleared))
    return requeued, unknown


def confirm_seen(session: Session, campaign_id: int, *, unit_costs: Mapping[str, Decimal]) -> int:
    """unknown → sent where the provider reported on the message (feedback may already have moved it further)."""
    return _run(session, update(Message).where(
        Message.campaign_id == campaign_id, Message.status == S.UNKNOWN, _provider_saw())
        .values(status=S.SENT, sent_at=func.coalesce(Message.sent_at, _first_event_at()),
                cost=func.coalesce(Message.cost, _unit_cost(unit_costs)), updated_at=clock.now()))


def resend_unseen(session: Session, campaign_id: int) -> int:
    """unknown → queued once the grace is over and the provider never saw the message."""
    now = clock.now()
    return _run(session, update(Message).where(
        Message.campaign_id == campaign_id, Message.status == S.UNKNOWN, Message.next_attempt_at <= now,
        not_(_provider_saw())).values(status=S.QUEUED, next_attempt_at=now, updated_at=now))


def settle_recovered(session: Session, campaign_id: int, *, unit_costs: Mapping[str, Decimal]) -> int:
    """Messages whose send only feedback proved (it moved them on from `unknown`) get their send time (the
    provider's first event) and cost: one UPDATE over the campaign's rows, when it ends."""
    return _run(session, update(Message).where(
        Message.campaign_id == campaign_id, Message.sent_at.is_(None), Message.attempts > 0,
        Message.status.in_((S.SENT, S.DELIVERED, S.BOUNCED, S.FAILED)), _provider_saw())
        .values(sent_at=_first_event_at(), cost=func.coalesce(Message.cost, _unit_cost(unit_costs)),
                updated_at=clock.now()))


# -- feedback -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reported:
    """A provider's report that moves a message: the status it reaches and, for a failure, why."""

    message_id: str
    status: MessageStatus
    reason: str | None = None
    error: str | None = None


def advance(session: Session, reports: Sequence[Reported]) -> dict[MessageStatus, int]:
    """Move each message to the highest-ranked status its reports reach, only ever forward (by `rank`): one
    set-based UPDATE per status for plain reports, one executemany for those carrying a reason."""
    furthest: dict[str, Reported] = {}
    for report in reports:
        current = furthest.get(report.message_id)
        if current is None or report.status.rank > current.status.rank:
            furthest[report.message_id] = report
    changed: dict[MessageStatus, int] = {}
    now = clock.now()
    for status in sorted({report.status for report in furthest.values()}, key=lambda item: item.rank):
        chosen = [report for _, report in sorted(furthest.items()) if report.status == status]
        below = tuple(str(item) for item in MessageStatus if 0 < item.rank < status.rank)
        plain = [report.message_id for report in chosen if report.reason is None and report.error is None]
        for start in range(0, len(plain), 5000):  # the common case (deliveries): one set-based statement
            _run(session, update(Message).where(member(session, Message.id, plain[start:start + 5000]),
                                                Message.status.in_(below)).values(status=status, updated_at=now))
        detailed = [(str(status), report.reason, report.error, now, report.message_id) for report in chosen
                    if report.reason is not None or report.error is not None]
        marks = ", ".join(f"'{name}'" for name in below)
        Bulk(session).executemany(f"UPDATE messages SET status = ?, reason = COALESCE(?, reason), "
                                  f"error = COALESCE(?, error), updated_at = ? WHERE id = ? AND status IN ({marks})",
                                  detailed)
        changed[status] = len(chosen)
    return changed


def returned_by_post(session: Session, message_ids: Sequence[str]) -> int:
    """sent/delivered → bounced: letters the mailing house got back ("NPAI")."""
    if not message_ids:
        return 0
    return _run(session, update(Message).where(Message.id.in_(list(message_ids)),
                                               Message.status.in_((S.SENT, S.DELIVERED)))
                .values(status=S.BOUNCED, reason="returned_mail", updated_at=clock.now()))
