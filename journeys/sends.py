"""Send steps on the campaigns' ledger: each step of each version is backed by a campaign row of its own; a batch
of enrollments reaching the step is planned by the campaigns' audience SQL (consent, suppression, topic opt-outs,
pauses, caps across campaigns and journeys, fallback, variants, the journey's holdout) into ledger rows whose id
derives from the step's campaign, the contact and the enrollment — so a step never sends twice — and the
dispatcher sends them like any campaign's."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import String, and_, case, func, literal, select, update
from sqlalchemy.orm import Session

from campaigns import hashing
from campaigns.audience import candidates
from campaigns.definition import SendOptions
from campaigns.planner import set_send_times, write_ledger
from campaigns.pricing import PriceList
from campaigns.service import create_campaign, definition_of
from core import clock
from core.ledger import cancel_unclaimed_of
from core.models import Campaign, JourneyStep, JourneyVersion, Message
from core.settings import Settings
from journeys.batch import BATCH, B, acting

OPEN = ("queued", "waiting")


class BudgetReached(RuntimeError):
    """The journey has spent its budget: it pauses before ledgering more."""


def step_campaign_name(journey: str, version: int, step: str) -> str:
    return f"{journey}.v{version}.{step}"


def create_step_campaign(session: Session, journey: Any, version: int, step: str, options: SendOptions,
                         *, status: str, actor: str) -> Campaign:
    """The campaign behind one send step of one version (UTM: the journey as campaign, the step as content)."""
    document = {**options.to_json(), "name": step_campaign_name(journey.name, version, step),
                "description": f"Journey {journey.name}, version {version}, step {step}", "journey": journey.name,
                "utm": {"utm_campaign": journey.name, "utm_content": step, **options.utm}}
    campaign = create_campaign(session, document, actor=actor)
    campaign.status = status
    campaign.started_at = campaign.started_at or clock.now()
    session.flush()
    return campaign


def journey_campaigns(session: Session, journey_id: int) -> list[int]:
    """Ids of the campaigns behind every send step of every version of the journey."""
    query = (select(JourneyStep.campaign_id).join(JourneyVersion, JourneyVersion.id == JourneyStep.version_id)
             .where(JourneyVersion.journey_id == journey_id, JourneyStep.campaign_id.is_not(None)))
    return [int(value) for value in session.scalars(query) if value is not None]


def journey_spend(session: Session, journey_id: int) -> Decimal:
    """What the journey's messages cost so far (sent, or reserved by a dispatcher on its way to send)."""
    ids = journey_campaigns(session, journey_id)
    spent = session.scalar(select(func.coalesce(func.sum(Campaign.spent), 0)).where(Campaign.id.in_(ids)))
    return Decimal(str(spent or 0))


def check_budget(session: Session, settings: Settings, journey_id: int, campaign_id: int, *, budget: Decimal,
                 fixed: Decimal, messages: int) -> None:
    """Refuse a batch that would take the journey's spend past its budget: what its messages went for so far, the
    fixed costs, and these `messages` at the step's one-part price on its first channel."""
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    definition = definition_of(campaign)
    channel = definition.channels[0]
    price = PriceList.for_campaign(definition, settings.unit_prices).price(
        channel, provider=settings.channel_config(channel)["backend"], postage_class=definition.postage_class)
    spent = journey_spend(session, journey_id) + fixed
    if spent + price * messages > budget:
        raise BudgetReached(f"budget reached: {spent:.2f} of {budget:.2f} {definition.currency} spent, the next "
                            f"{messages:,} messages (≈ {price * messages:.2f}) would go over")


def ledger_batch(session: Session, settings: Settings, campaign_id: int, now: datetime) -> int:
    """Ledger rows for the acting batch rows at a send step; each row's outcome (the ledger status: queued,
    excluded with its reason, held_out) and message id go back into the batch. Returns how many were written."""
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    definition = definition_of(campaign)
    recipients = (select(B.contact_id.label("contact_id"), B.enrollment_id.label("rotation"),
                         B.held_out.label("held_out")).where(acting()).subquery("recipients"))
    written = write_ledger(session, campaign, candidates(session, campaign, definition, recipients)
                           .subquery("planned"), now)
    in_batch = Message.rotation.in_(select(B.enrollment_id).where(acting()))
    set_send_times(session, settings, campaign, definition, now, scope=in_batch)
    message_id = hashing.message_id_sql(session, campaign.id, B.contact_id, B.enrollment_id)
    session.execute(update(BATCH).where(acting()).values(message_id=message_id))
    excluded = literal("excluded:", String) + func.coalesce(Message.reason, literal("unreachable", String))
    outcome = select(case((Message.status == "excluded", excluded), else_=Message.status)) \
        .where(Message.id == B.message_id)
    session.execute(update(BATCH).where(acting()).values(
        outcome=func.coalesce(outcome.scalar_subquery(), literal("skipped", String))))
    return written


def cancel_open_messages(session: Session, campaign_ids: list[int], finished: Any, reason: str) -> int:
    """Messages of these step campaigns not yet claimed, for enrollments in `finished` (a select of
    (contact_id, enrollment_id)), become `cancelled`: a contact who left the journey gets nothing more."""
    which = and_(Message.contact_id.in_(select(finished.c.contact_id)),
                 Message.rotation.in_(select(finished.c.enrollment_id)))
    return cancel_unclaimed_of(session, campaign_ids, which, reason=reason)
