"""The audience of a campaign as one SELECT: members minus exclusions, the channel each contact gets (fallback by
reachability and frequency caps), why the others are excluded, and the holdout / variant / test-phase buckets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, null, or_, select, union
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from campaigns import hashing
from campaigns.definition import CampaignDefinition, FrequencyCap
from core import clock
from core.models import Campaign, Contact, Message, Variant
from segments.compiler import make_context
from segments.reachability import reachable_condition, unreachable_reason
from segments.service import get_segment, members_query

# Messages that count against a frequency cap: sent within the window, or on their way.
IN_FLIGHT = ("queued", "sending", "unknown")


@dataclass(frozen=True)
class Arm:
    """A variant row with the upper bound of its bucket range."""

    variant_id: int
    upper: int


def audience_ids(session: Session, definition: CampaignDefinition) -> Any:
    """`SELECT id` of the contacts in any audience segment and in no excluded segment."""
    included = _any_of(session, definition.audience)
    if not definition.exclude_segments:
        return included
    return included.except_(_any_of(session, definition.exclude_segments))


def _any_of(session: Session, names: list[str]) -> Any:
    queries: list[Any] = [members_query(session, get_segment(session, name)) for name in names]
    return queries[0] if len(queries) == 1 else union(*queries)


def _capped(campaign_id: int, channel: str, cap: FrequencyCap) -> ColumnElement[bool]:
    since = clock.now() - timedelta(days=cap.days)
    recent = (
        select(func.count()).select_from(Message)
        .where(Message.contact_id == Contact.id, Message.channel == channel, Message.campaign_id != campaign_id,
               or_(Message.sent_at >= since, Message.status.in_(IN_FLIGHT)))
        .scalar_subquery()
    )
    return recent >= cap.max


def channel_choice(session: Session, campaign_id: int, definition: CampaignDefinition) -> tuple[Any, Any]:
    """(chosen channel or NULL, exclusion reason or NULL) as SQL over `Contact`."""
    ctx = make_context(session)
    caps = definition.policies.frequency_cap
    usable: list[tuple[ColumnElement[bool], str]] = []
    for channel in definition.channels:
        condition = reachable_condition(ctx, channel)
        if channel in caps:
            condition = and_(condition, ~_capped(campaign_id, channel, caps[channel]))
        usable.append((condition, channel))
    chosen = case(*[(condition, literal(channel)) for condition, channel in usable], else_=null())
    primary = definition.channels[0]
    reason = func.coalesce(unreachable_reason(ctx, primary), literal("capped" if primary in caps else "unreachable"))
    return chosen, reason


def arms(session: Session, campaign: Campaign) -> list[Arm]:
    """The campaign's variants with cumulative bucket bounds proportional to their weights."""
    variants = list(session.scalars(select(Variant).where(Variant.campaign_id == campaign.id).order_by(Variant.name)))
    total = sum(variant.weight for variant in variants)
    result, running = [], 0
    for variant in variants:
        running += variant.weight
        result.append(Arm(variant.id, hashing.threshold(running / total)))
    return result


def candidates(session: Session, campaign: Campaign, definition: CampaignDefinition) -> Select[Any]:
    """One row per audience contact: contact_id, channel, status, reason, variant_id (all decided in SQL)."""
    hashing.prepare(session)
    chosen, reason = channel_choice(session, campaign.id, definition)
    inner = select(
        Contact.id.label("contact_id"),
        chosen.label("channel"),
        reason.label("reason"),
        hashing.bucket_sql(session, f"holdout:{campaign.id}", Contact.id).label("holdout_bucket"),
        hashing.bucket_sql(session, f"variant:{campaign.id}", Contact.id).label("variant_bucket"),
        hashing.bucket_sql(session, f"test:{campaign.id}", Contact.id).label("test_bucket"),
    ).where(Contact.id.in_(audience_ids(session, definition)), Contact.erased_at.is_(None)).subquery("candidates")
    held_out = inner.c.holdout_bucket < hashing.threshold(definition.holdout)
    waiting = (inner.c.test_bucket >= hashing.threshold(definition.test.share)) if definition.test else literal(False)
    status = case(
        (inner.c.channel.is_(None), literal("excluded")), (held_out, literal("held_out")),
        (waiting, literal("waiting")), else_=literal("queued"),
    )
    buckets = arms(session, campaign)
    variant = case(
        (or_(inner.c.channel.is_(None), held_out, waiting), null()),
        *[(inner.c.variant_bucket < arm.upper, literal(arm.variant_id)) for arm in buckets[:-1]],
        else_=literal(buckets[-1].variant_id),
    )
    # The channel a held-out or excluded contact would have got stays recorded (reports compare like with like).
    return select(
        inner.c.contact_id,
        func.coalesce(inner.c.channel, literal(definition.channels[0])).label("channel"),
        status.label("status"),
        case((inner.c.channel.is_(None), inner.c.reason), else_=null()).label("reason"),
        variant.label("variant_id"),
    )
