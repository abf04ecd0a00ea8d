"""Campaigns as stored objects: create from a definition, find, list, and the status changes (schedule, pause,
resume, cancel) that the dispatcher's next claim respects; every change is written to the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from campaigns.definition import CampaignDefinition, CampaignDefinitionError, SendOptions, parse_campaign
from campaigns.invitations import SurveyUnavailable, survey_ref
from core import clock
from core.ledger import cancel_unclaimed
from core.models import AuditLog, Campaign, Cost, Template, Variant
from segments.service import SegmentNotFound, get_segment
from templates.pipeline import sync_library

EDITABLE = ("draft", "scheduled")


class CampaignNotFound(LookupError):
    """No campaign has that name (or id)."""


class CampaignStateError(ValueError):
    """The campaign's status does not allow what was asked (e.g. resuming a completed campaign)."""


def get_campaign(session: Session, name_or_id: str | int) -> Campaign:
    """The campaign with this name (or numeric id)."""
    query = select(Campaign).where(Campaign.name == str(name_or_id))
    if isinstance(name_or_id, int) or str(name_or_id).isdigit():
        query = select(Campaign).where(or_(Campaign.name == str(name_or_id), Campaign.id == int(name_or_id)))
    campaign = session.scalars(query).first()
    if campaign is None:
        raise CampaignNotFound(f"no campaign named {name_or_id!r}")
    return campaign


def list_campaigns(session: Session) -> list[Campaign]:
    """Every campaign, newest first (not the campaigns behind journeys' send steps: see `relance journey`)."""
    return list(session.scalars(select(Campaign).where(Campaign.kind == "campaign")
                                .order_by(Campaign.created_at.desc(), Campaign.id.desc())))


def definition_of(campaign: Campaign) -> CampaignDefinition:
    """The parsed definition of a stored campaign."""
    return parse_campaign({**campaign.definition, "name": campaign.name})


def audit(session: Session, actor: str, action: str, campaign: Campaign, **details: Any) -> None:
    """Record who changed the campaign and how."""
    session.add(AuditLog(actor=actor, action=f"campaign.{action}", target=campaign.name, details=details))


def _check_references(session: Session, definition: CampaignDefinition) -> None:
    problems: list[tuple[str, str]] = []
    for key, names in (("segment", definition.audience), ("exclude_segments", definition.exclude_segments)):
        for name in names:
            try:
                get_segment(session, name)
            except SegmentNotFound:
                problems.append((key, f"no segment named {name!r}"))
    problems += template_problems(session, definition) + survey_problems(session, definition)
    if problems:
        raise CampaignDefinitionError(problems)


def template_problems(session: Session, definition: SendOptions) -> list[tuple[str, str]]:
    """Templates the send names that do not exist (the library on disk is synced first) or are for another
    channel, as (path, why) pairs."""
    problems: list[tuple[str, str]] = []
    wanted = {(arm.template_for(channel) or "", channel)
              for arm in definition.arms() for channel in definition.channels}
    known = dict(session.execute(select(Template.name, Template.channel)).tuples().all())
    if any(name not in known for name, _ in wanted):
        sync_library(session)  # the library on disk may hold it and not be synced yet
        known = dict(session.execute(select(Template.name, Template.channel)).tuples().all())
    for name, channel in sorted(wanted, key=str):
        if name not in known:
            problems.append(("template", f"no template named {name!r} (add it to templates/library/)"))
        elif known[name] != channel:
            problems.append(("template", f"template {name!r} is for {known[name]}, not {channel}"))
    return problems


def survey_problems(session: Session, definition: SendOptions) -> list[tuple[str, str]]:
    """The survey the send invites to, when it does not exist or is closed, as (path, why) pairs."""
    if not definition.survey:
        return []
    try:
        survey_ref(session, definition.survey)
    except SurveyUnavailable as exc:
        return [("survey", str(exc))]
    return []


def _sync_variants(session: Session, campaign: Campaign, definition: CampaignDefinition) -> None:
    existing = {variant.name: variant for variant in session.scalars(
        select(Variant).where(Variant.campaign_id == campaign.id))}
    for arm in definition.arms():
        variant = existing.pop(arm.name, None) or Variant(campaign_id=campaign.id, name=arm.name)
        variant.templates = {channel: arm.template_for(channel) for channel in definition.channels}
        variant.weight = arm.weight
        session.add(variant)
    for leftover in existing.values():
        session.delete(leftover)


def create_campaign(session: Session, definition: CampaignDefinition | dict[str, Any], *, replace: bool = False,
                    actor: str = "cli") -> Campaign:
    """Save a campaign (segments and templates must exist). With `replace`, a draft or scheduled campaign of that
    name takes the new definition; a campaign that has started sending cannot change."""
    parsed = definition if isinstance(definition, CampaignDefinition) else parse_campaign(definition)
    _check_references(session, parsed)
    campaign = session.scalars(select(Campaign).where(Campaign.name == parsed.name)).first()
    if campaign is not None and not replace:
        raise ValueError(f"a campaign named {parsed.name!r} already exists (use --replace to update it)")
    if campaign is not None and campaign.status not in EDITABLE:
        raise CampaignStateError(f"campaign {parsed.name!r} is {campaign.status}: it can no longer change")
    if campaign is None:
        campaign = Campaign(name=parsed.name, status="draft", kind="journey" if parsed.journey else "campaign")
        session.add(campaign)
    campaign.definition = parsed.to_json()
    campaign.segment_id = get_segment(session, parsed.audience[0]).id if parsed.audience else None
    campaign.channels = parsed.channels
    campaign.holdout = parsed.holdout
    campaign.budget = parsed.budget
    campaign.currency = parsed.currency
    campaign.utm = parsed.utm_for(parsed.channels[0])
    at = parsed.schedule.at if parsed.schedule is not None else None
    campaign.scheduled_at = clock.utc(at) if at is not None else None
    if campaign.scheduled_at is not None and campaign.status == "draft":
        campaign.status = "scheduled"
    session.flush()
    _sync_variants(session, campaign, parsed)
    _sync_fixed_cost(session, campaign, parsed)
    audit(session, actor, "replaced" if replace else "created", campaign, definition=campaign.definition)
    session.flush()
    return campaign


def _sync_fixed_cost(session: Session, campaign: Campaign, definition: CampaignDefinition) -> None:
    """The definition's `costs.fixed` as one Cost row (category "fixed"); other Cost rows are left alone."""
    row = session.scalars(select(Cost).where(Cost.campaign_id == campaign.id, Cost.category == "fixed")).first()
    amount = definition.fixed_cost()
    if not amount:
        if row is not None:
            session.delete(row)
        return
    if row is None:
        row = Cost(campaign_id=campaign.id, category="fixed", description="fixed costs from the campaign definition")
        session.add(row)
    row.amount, row.currency = amount, definition.currency


def schedule_campaign(session: Session, campaign: Campaign, at: datetime, *, actor: str = "cli") -> Campaign:
    """Set when a draft or scheduled campaign goes out (workers pick it up at that time)."""
    if campaign.status not in EDITABLE:
        raise CampaignStateError(f"campaign {campaign.name!r} is {campaign.status}: it cannot be rescheduled")
    if at.tzinfo is None:
        raise ValueError("give the time with its timezone offset")
    campaign.scheduled_at, campaign.status = clock.utc(at), "scheduled"
    campaign.definition = {**campaign.definition, "schedule": {**(campaign.definition.get("schedule") or {}),
                                                               "at": clock.utc(at).isoformat()}}
    audit(session, actor, "scheduled", campaign, at=clock.utc(at).isoformat())
    session.flush()
    return campaign


def pause_campaign(session: Session, campaign: Campaign, reason: str = "paused by hand", *,
                   actor: str = "cli") -> Campaign:
    """Stop claiming new batches (messages already leased finish their send)."""
    if campaign.status not in ("scheduled", "sending", "planning"):
        raise CampaignStateError(f"campaign {campaign.name!r} is {campaign.status}: only a sending or scheduled "
                                 "campaign can be paused")
    campaign.status, campaign.status_reason = "paused", reason
    audit(session, actor, "paused", campaign, reason=reason)
    session.flush()
    return campaign


def resume_campaign(session: Session, campaign: Campaign, *, actor: str = "cli") -> Campaign:
    """Carry on sending a paused campaign (its reason is cleared; error rates are judged batch by batch)."""
    if campaign.status != "paused":
        raise CampaignStateError(f"campaign {campaign.name!r} is {campaign.status}, not paused")
    campaign.status = "sending" if campaign.started_at is not None else "scheduled"
    campaign.status_reason = None
    audit(session, actor, "resumed", campaign)
    session.flush()
    return campaign


def cancel_campaign(session: Session, campaign: Campaign, *, actor: str = "cli") -> int:
    """Cancel: messages not yet claimed become `cancelled`; returns how many. Sent messages stay as they are."""
    if campaign.status in ("completed", "cancelled"):
        raise CampaignStateError(f"campaign {campaign.name!r} is already {campaign.status}")
    cancelled = cancel_unclaimed(session, campaign.id)
    campaign.status, campaign.status_reason, campaign.completed_at = "cancelled", "cancelled by hand", clock.now()
    audit(session, actor, "cancelled", campaign, messages=cancelled)
    session.flush()
    return cancelled
