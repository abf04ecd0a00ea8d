"""The A/B test phase: once its wait is over, the variant with the best rate (human opens, clicks or conversions
per message sent) wins, and the messages waiting for it are queued with the winner's content."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, distinct, exists, func, literal, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from campaigns.definition import CampaignDefinition
from core import clock
from core.dialect import greatest
from core.ledger import release_waiting
from core.models import Campaign, Conversion, Event, Message, UTCDateTime, Variant
from segments.compile_context import json_value
from segments.compiler import make_context

METRIC_EVENTS = {"opens": "email.opened", "clicks": "email.clicked"}


@dataclass(frozen=True)
class VariantResult:
    """One arm's test result."""

    variant: str
    sent: int
    hits: int

    @property
    def rate(self) -> float:
        return self.hits / self.sent if self.sent else 0.0


def _hit(session: Session, metric: str) -> ColumnElement[bool]:
    """Whether the message (row of `Message`) produced the metric."""
    if metric == "conversions":
        return exists().where(Conversion.contact_id == Message.contact_id, Conversion.occurred_at >= Message.sent_at)
    condition = and_(Event.message_id == Message.id, Event.type == METRIC_EVENTS[metric])
    if metric == "opens":  # privacy proxies and scanners open everything: only people count
        machine = json_value(make_context(session), Event.properties, "machine", "boolean")
        condition = and_(condition, or_(machine.is_(None), machine.is_(False)))
    return exists().where(condition)


def test_results(session: Session, campaign: Campaign, metric: str) -> list[VariantResult]:
    """Per variant: messages sent in the test phase and how many of them produced the metric."""
    query = (select(Variant.name, func.count(distinct(Message.id)),
                    func.count(distinct(Message.id)).filter(_hit(session, metric)))
             .outerjoin(Message, and_(Message.variant_id == Variant.id, Message.sent_at.is_not(None)))
             .where(Variant.campaign_id == campaign.id)
             .group_by(Variant.name).order_by(Variant.name))
    return [VariantResult(name, sent, hits) for name, sent, hits in session.execute(query)]


test_results.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def decision_time(campaign: Campaign, definition: CampaignDefinition) -> datetime | None:
    """When the winner is due (None: no test phase, or not started)."""
    if definition.test is None or campaign.started_at is None:
        return None
    return definition.test.decided_at(clock.utc(campaign.started_at))


def decide_winner(session: Session, campaign: Campaign, definition: CampaignDefinition) -> str | None:
    """Pick the winner if its time has come (idempotent: an existing winner is returned as is) and queue the
    waiting messages with it. Ties go to the first variant by name."""
    current = session.scalar(select(Variant.name).where(Variant.campaign_id == campaign.id, Variant.is_winner))
    due = decision_time(campaign, definition)
    if current is not None or due is None or clock.now() < due:
        return current
    assert definition.test is not None
    # Every arm has a result, sent or not: a test phase that sent nothing (a tiny audience, every send failed)
    # still ends, with the first variant, instead of leaving the waiting messages waiting forever.
    best = min(test_results(session, campaign, definition.test.metric),
               key=lambda result: (-result.rate, result.variant))
    winner = session.scalars(select(Variant).where(Variant.campaign_id == campaign.id,
                                                   Variant.name == best.variant)).one()
    winner.is_winner = True
    now = clock.now()
    not_before = greatest(session)(Message.next_attempt_at, literal(now, UTCDateTime()))
    release_waiting(session, campaign.id, variant_id=winner.id, not_before=not_before)
    campaign.status_reason = (f"variant {best.variant} won the test on {definition.test.metric} "
                              f"({best.rate:.1%} of {best.sent} sent)")
    session.flush()
    return best.variant
