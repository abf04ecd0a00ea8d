"""A sending campaign's housekeeping: reconciling leases, pausing itself on errors, completing when done."""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns import ledger
from campaigns.definition import CampaignDefinition
from campaigns.outcomes import Tally
from campaigns.pricing import PriceList
from campaigns.recovery import Reconciled, reconcile, settle_recovered
from campaigns.service import audit
from core import clock
from core.models import Campaign, Message
from core.settings import Settings


def unit_costs(settings: Settings, definition: CampaignDefinition) -> dict[str, Decimal]:
    """A one-part price per channel (for messages whose send was only proven by the provider's feedback)."""
    prices = PriceList.for_campaign(definition, settings.unit_prices)
    return {channel: prices.price(channel, provider=settings.channel_config(channel)["backend"],
                                  postage_class=definition.postage_class) for channel in definition.channels}


def reconcile_campaign(session: Session, settings: Settings, campaign: Campaign, definition: CampaignDefinition,
                       idempotent_channels: Collection[str]) -> Reconciled:
    """Expired leases and unknown sends of one campaign (see campaigns.recovery)."""
    return reconcile(session, campaign.id, idempotent_channels=idempotent_channels,
                     grace_seconds=settings.unknown_grace_seconds, unit_costs=unit_costs(settings, definition))


def pause_for_errors(session: Session, campaign_id: int, definition: CampaignDefinition, tally: Tally) -> str | None:
    """Pause the campaign when this batch's failure rate crosses its policy; returns the reason, if paused."""
    policy = definition.policies
    if tally.attempted < policy.min_sample or tally.failed / tally.attempted <= policy.max_error_rate:
        return None
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.status != "sending":
        return None
    reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(tally.reasons.items()))
    why = (f"error rate {tally.failed / tally.attempted:.0%} > {policy.max_error_rate:.0%} in the last batch "
           f"({reasons}); last error: {tally.last_error}")[:1000]
    campaign.status, campaign.status_reason = "paused", why
    audit(session, "dispatcher", "paused", campaign, reason=why)
    session.flush()
    return why


def complete_if_done(session: Session, campaign: Campaign, costs: dict[str, Decimal]) -> bool:
    """Mark a sending campaign completed when nothing is left to send or settle; true spend is recomputed. A journey
    step's campaign stays open while its journey runs (new enrollments keep reaching the step)."""
    if campaign.status != "sending" or campaign.kind == "journey" or ledger.has_open_messages(session, campaign.id):
        return False
    settle_recovered(session, campaign.id, unit_costs=costs)
    spent = session.scalar(select(func.coalesce(func.sum(Message.cost), 0)).where(Message.campaign_id == campaign.id))
    campaign.spent = Decimal(str(spent or 0))
    campaign.status, campaign.completed_at = "completed", clock.now()
    audit(session, "dispatcher", "completed", campaign, spent=str(campaign.spent))
    session.flush()
    return True
