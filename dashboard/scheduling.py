"""The Schedule page's work, without Streamlit: a campaign document from the form, its dry-run plan, scheduling."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.definition import parse_campaign
from campaigns.planner import plan_campaign
from campaigns.service import create_campaign, schedule_campaign
from core.models import Template
from core.settings import Settings
from templates.library import load_library


@dataclass(frozen=True)
class ScheduleRequest:
    """What the form asks for. `variants` maps an arm name to its template per channel (one arm: no A/B test)."""

    name: str
    segment: str
    channels: list[str]
    variants: dict[str, dict[str, str]]
    at: datetime
    holdout: float = 0.0
    budget: Decimal | None = None
    currency: str = "EUR"
    fixed_cost: Decimal | None = None
    utm: dict[str, str] = field(default_factory=dict)

    def definition(self) -> dict[str, Any]:
        """The campaign-as-code document (what `relance campaign create FILE` would read)."""
        document: dict[str, Any] = {
            "name": self.name.strip(), "segment": self.segment,
            "channel": self.channels[0] if len(self.channels) == 1 else list(self.channels),
            "schedule": {"at": self.at.isoformat()}, "currency": self.currency,
        }
        arms = [{"name": arm, "template": templates} for arm, templates in self.variants.items()]
        if len(arms) == 1:
            document["template"] = arms[0]["template"]
        else:
            document["variants"] = arms
        if self.holdout:
            document["holdout"] = self.holdout
        if self.budget is not None:
            document["budget"] = str(self.budget)
        if self.fixed_cost:
            document["costs"] = {"fixed": str(self.fixed_cost)}
        if self.utm:
            document["utm"] = dict(self.utm)
        return document


def templates_by_channel(session: Session) -> dict[str, list[str]]:
    """Template names per channel: the library on disk and the templates saved in the database."""
    names: dict[str, set[str]] = {}
    for template in load_library():
        names.setdefault(template.channel, set()).add(template.name)
    for name, channel in session.execute(select(Template.name, Template.channel)):
        names.setdefault(channel, set()).add(name)
    return {channel: sorted(values) for channel, values in sorted(names.items())}


def preview(session: Session, settings: Settings, request: ScheduleRequest) -> dict[str, Any]:
    """The dry-run plan — audience, exclusions by reason, split per channel and variant, cost, sample renders —
    computed on a draft that is rolled back: nothing is saved."""
    definition = parse_campaign(request.definition())
    try:
        campaign = create_campaign(session, definition, actor="dashboard-preview")
        return plan_campaign(session, settings, campaign, dry_run=True).as_dict()
    finally:
        session.rollback()


def schedule(session: Session, request: ScheduleRequest, *, actor: str) -> dict[str, Any]:
    """Save the campaign and schedule it at `request.at` (the caller commits); the audit log names `actor`."""
    campaign = create_campaign(session, parse_campaign(request.definition()), actor=actor)
    schedule_campaign(session, campaign, request.at, actor=actor)
    return {"campaign": campaign.name, "id": campaign.id, "status": campaign.status,
            "scheduled_at": campaign.scheduled_at}
