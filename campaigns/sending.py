"""Starting campaigns: which are due, and planning one when its time has come (shared by the CLI and the flows)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from campaigns.planner import PlanReport, plan_campaign
from campaigns.service import EDITABLE, CampaignStateError, audit
from core import clock
from core.models import Campaign
from core.settings import Settings


def due_campaigns(session: Session, *, now: datetime | None = None) -> list[int]:
    """Campaigns with work: scheduled ones whose time has come, and those sending (later send times, retries).
    Journey steps' campaigns are dispatched by the journeys' own tick."""
    moment = now or clock.now()
    query = select(Campaign.id).where(Campaign.kind == "campaign", or_(
        Campaign.status == "sending",
        (Campaign.status == "scheduled") & (Campaign.scheduled_at <= moment),
    )).order_by(Campaign.scheduled_at, Campaign.id)
    return list(session.scalars(query))


def start_campaign(session: Session, settings: Settings, campaign: Campaign, *, now: bool = False,
                   actor: str = "cli") -> PlanReport:
    """Plan a draft or scheduled campaign for real (with `now`, even before its scheduled time) and set it
    sending; for a campaign already sending, the plan report of its ledger."""
    if campaign.kind == "journey":
        raise CampaignStateError(f"campaign {campaign.name!r} backs a journey step: `relance journey advance` (or "
                                 "the worker) sends its messages as enrollments reach the step")
    if campaign.status in ("completed", "cancelled"):
        raise CampaignStateError(f"campaign {campaign.name!r} is {campaign.status}")
    if campaign.status == "paused":
        raise CampaignStateError(f"campaign {campaign.name!r} is paused ({campaign.status_reason}): resume it first")
    if campaign.status in EDITABLE and now:
        campaign.scheduled_at = clock.now()
    report = plan_campaign(session, settings, campaign, dry_run=False)
    if report.written:
        audit(session, actor, "planned", campaign, messages=report.written, to_send=report.to_send)
    return report


def waits_until(campaign: Campaign) -> datetime | None:
    """When a scheduled campaign starts, if that is still ahead."""
    if campaign.status in EDITABLE and campaign.scheduled_at is not None:
        at = clock.utc(campaign.scheduled_at)
        return at if at > clock.now() else None
    return None
