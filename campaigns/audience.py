"""The audience of a campaign as one SELECT: members minus exclusions, the channel each contact gets (fallback by
reachability and frequency caps), why the others are excluded, and the holdout / variant / test-phase buckets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, literal, null, or_, select, union
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from campaigns import hashing
from campaigns.definition import CampaignDefinition, FrequencyCap
from core import clock
from core.ledger import OPEN, MessageStatus
from core.models import Campaign, Consent, Contact, Message, Variant
from segments.compile_context import Context, json_value
from segments.compiler import make_context
from segments.reachability import MARKETING, reachable_condition, unreachable_reason
from segments.service import get_segment, members_query


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
               or_(Message.sent_at >= since, Message.status.in_(OPEN)))
        .scalar_subquery()
    )
    return recent >= cap.max


def _topic_withdrawn(channel: str, topic: str) -> ColumnElement[bool]:
    """The contact opted out of this campaign's topic (preference centre) on this channel."""
    return exists().where(Consent.contact_id == Contact.id, Consent.channel == channel, Consent.topic == topic,
                          Consent.status == "withdrawn")


def _paused(ctx: Context) -> ColumnElement[bool]:
    """The contact asked for a break (preference centre: `attributes.paused_until`, ISO time in UTC)."""
    until = json_value(ctx, Contact.attributes, "paused_until", "string")
    return func.coalesce(func.substr(until, 1, 19) > ctx.now.strftime("%Y-%m-%dT%H:%M:%S"), False)


def _blockers(ctx: Context, campaign_id: int, definition: CampaignDefinition,
              channel: str) -> list[tuple[ColumnElement[bool], str]]:
    """What stops a reachable contact from getting this campaign on `channel`, with its reason, in order."""
    blockers = []
    if definition.topic != MARKETING:
        blockers.append((_topic_withdrawn(channel, definition.topic), "topic_opt_out"))
    blockers.append((_paused(ctx), "paused_by_contact"))
    cap = definition.policies.frequency_cap.get(channel)  # type: ignore[call-overload]
    if cap is not None:
        blockers.append((_capped(campaign_id, channel, cap), "capped"))
    return blockers


def channel_choice(session: Session, campaign_id: int, definition: CampaignDefinition) -> tuple[Any, Any]:
    """(chosen channel or NULL, exclusion reason or NULL) as SQL over `Contact`: the first channel of the fallback
    order the contact is reachable on and not blocked; the reason refers to the first channel."""
    ctx = make_context(session)
    usable = []
    for channel in definition.channels:
        blocked = [condition for condition, _ in _blockers(ctx, campaign_id, definition, channel)]
        usable.append((and_(reachable_condition(ctx, channel), *[~condition for condition in blocked]), channel))
    chosen = case(*[(condition, literal(channel)) for condition, channel in usable], else_=null())
    primary = definition.channels[0]
    why_blocked = case(*[(condition, literal(reason)) for condition, reason in
                         _blockers(ctx, campaign_id, definition, primary)], else_=literal("unreachable"))
    return chosen, func.coalesce(unreachable_reason(ctx, primary), why_blocked)


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
    chosen_and_bucketed = select(
        Contact.id.label("contact_id"),
        chosen.label("channel"),
        reason.label("reason"),
        hashing.bucket_sql(session, f"holdout:{campaign.id}", Contact.id).label("holdout_bucket"),
        hashing.bucket_sql(session, f"variant:{campaign.id}", Contact.id).label("variant_bucket"),
        hashing.bucket_sql(session, f"test:{campaign.id}", Contact.id).label("test_bucket"),
    ).where(Contact.id.in_(audience_ids(session, definition)), Contact.erased_at.is_(None))
    # OFFSET 0 keeps the databases from inlining this subquery into the outer SELECT, which would evaluate the
    # channel choice (consent, suppression, cap lookups) once per reference to it — four times a row.
    inner = chosen_and_bucketed.offset(0).subquery("candidates")
    held_out = inner.c.holdout_bucket < hashing.threshold(definition.holdout)
    waiting = (inner.c.test_bucket >= hashing.threshold(definition.test.share)) if definition.test else literal(False)
    status = case(
        (inner.c.channel.is_(None), literal(str(MessageStatus.EXCLUDED))),
        (held_out, literal(str(MessageStatus.HELD_OUT))),
        (waiting, literal(str(MessageStatus.WAITING))),
        else_=literal(str(MessageStatus.QUEUED)),
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
