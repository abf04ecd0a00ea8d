"""Planning a campaign: the dry run (audience, exclusions by reason, split per channel and variant, cost, sample
renders) and the real plan, which writes the whole ledger in one INSERT…SELECT, then sets send times per group."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, and_, func, literal, select, true
from sqlalchemy.orm import Session

from campaigns import hashing, timing
from campaigns.audience import candidates
from campaigns.definition import CampaignDefinition
from campaigns.invitations import invite, survey_ref
from campaigns.pricing import PriceList
from campaigns.rendering import Renderer, load_contacts, parts_of
from campaigns.service import EDITABLE, definition_of
from core import clock
from core.dialect import dialect_insert
from core.ledger import UNCLAIMED, Claimed, MessageStatus, retime_unclaimed
from core.models import Campaign, Contact, Message, UTCDateTime
from core.settings import Settings
from templates.errors import TemplateError

SAMPLES = 3


@dataclass
class PlanReport:
    """What a plan decided (or, for a dry run, would decide)."""

    campaign: str
    dry_run: bool
    audience: int = 0
    to_send: int = 0
    held_out: int = 0
    waiting_for_winner: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    per_channel: dict[str, int] = field(default_factory=dict)
    per_variant: dict[str, int] = field(default_factory=dict)
    deferred_by_quiet_hours: int = 0
    first_send_at: datetime | None = None
    last_send_at: datetime | None = None
    estimated_cost: Decimal = Decimal(0)
    fixed_cost: Decimal = Decimal(0)
    currency: str = "EUR"
    budget: Decimal | None = None
    written: int = 0
    invited: int = 0  # survey invitations written (campaigns carrying `survey: NAME`)
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def eligible(self) -> int:
        return self.audience - sum(self.excluded.values())

    @property
    def over_budget(self) -> bool:
        return self.budget is not None and self.estimated_cost + self.fixed_cost > self.budget

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "eligible": self.eligible, "over_budget": self.over_budget}


def start_of(campaign: Campaign, definition: CampaignDefinition) -> datetime:
    """When the campaign starts: its scheduled time if still ahead, else now."""
    now = clock.now()
    at = campaign.scheduled_at or (definition.schedule.at if definition.schedule else None)
    return max(clock.utc(at), now) if at is not None else now


# -- the real plan ------------------------------------------------------------------------------------------------
def write_ledger(session: Session, campaign: Campaign, source: Any, start: datetime) -> int:
    """INSERT…SELECT the ledger rows of `source` (a `candidates` subquery) due from `start`; rows already there
    (same campaign, contact and rotation: the same id) are left alone. Returns how many were written."""
    now = clock.now()
    rows = select(
        hashing.message_id_sql(session, campaign.id, source.c.contact_id, source.c.rotation).label("id"),
        literal(campaign.id, Integer).label("campaign_id"), source.c.contact_id,
        source.c.rotation, source.c.channel, source.c.variant_id, source.c.status,
        source.c.reason, literal(start, UTCDateTime()).label("next_attempt_at"),
        literal(0, Integer).label("attempts"), literal(1, Integer).label("parts"),
        literal(now, UTCDateTime()).label("created_at"), literal(now, UTCDateTime()).label("updated_at"),
    ).where(source.c.contact_id.is_not(None))  # a WHERE keeps SQLite's parser from reading ON CONFLICT as a join
    columns = [column.key for column in rows.selected_columns]
    statement = dialect_insert(session)(Message.__table__).from_select(columns, rows).on_conflict_do_nothing()
    result = session.connection().execute(statement, execution_options={"preserve_rowcount": True})
    return int(result.rowcount or 0)


def _groups_in_ledger(session: Session, campaign: Campaign, scope: Any) -> list[tuple[timing.Group, int]]:
    query = (select(Message.channel, Contact.timezone, Contact.country, func.count())
             .join(Contact, Contact.id == Message.contact_id)
             .where(Message.campaign_id == campaign.id, Message.status.in_(UNCLAIMED), scope)
             .group_by(Message.channel, Contact.timezone, Contact.country))
    return [(timing.Group(channel, tz, country), count) for channel, tz, country, count in session.execute(query)]


def _null_safe(column: Any, value: Any) -> Any:
    return column.is_(None) if value is None else column == value


def set_send_times(session: Session, settings: Settings, campaign: Campaign, definition: CampaignDefinition,
                   start: datetime, scope: Any = None) -> None:
    """One UPDATE per (channel, timezone, country) group whose send time differs from the start (local-time
    schedule, quiet hours); what cannot go within the send window is excluded. `scope` narrows the rows (a
    journey step's batch)."""
    if not timing.needs_grouping(definition):
        return
    scope = true() if scope is None else scope
    end = timing.window_end(definition, start)
    for group, _ in _groups_in_ledger(session, campaign, scope):
        moment = timing.send_time(definition, start, group, settings.default_timezone)
        if moment == start:
            continue
        in_group = select(Contact.id).where(_null_safe(Contact.timezone, group.timezone),
                                            _null_safe(Contact.country, group.country))
        retime_unclaimed(session, campaign.id, and_(Message.channel == group.channel,
                                                    Message.contact_id.in_(in_group), scope),
                         not_before=moment, quiet_hours=end is not None and moment > end)


def plan_campaign(session: Session, settings: Settings, campaign: Campaign, *, dry_run: bool) -> PlanReport:
    """Plan `campaign`. A dry run writes nothing; the real plan writes the ledger once (again: nothing new) and
    moves the campaign to `sending`. Either way the report describes the plan."""
    definition = definition_of(campaign)
    start = start_of(campaign, definition)
    report = PlanReport(campaign.name, dry_run, currency=definition.currency, budget=definition.budget,
                        fixed_cost=definition.fixed_cost())
    if dry_run:
        summary = _summarise(session, candidates(session, campaign, definition).subquery("planned"))
    else:
        if campaign.status in EDITABLE:
            report.written = write_ledger(session, campaign, candidates(session, campaign, definition)
                                         .subquery("planned"), start)
            set_send_times(session, settings, campaign, definition, start)
            if definition.survey:
                report.invited = invite(session, campaign.id, survey_ref(session, definition.survey))
            campaign.status, campaign.started_at = "sending", campaign.started_at or clock.now()
            session.flush()
        ledger = select(Message.contact_id, Message.channel, Message.status, Message.reason, Message.variant_id) \
            .where(Message.campaign_id == campaign.id).subquery("ledger")
        summary = _summarise(session, ledger)
    renderer = Renderer(session, settings, campaign, definition)
    _fill(report, summary, renderer)
    _timing(settings, report, definition, start, summary)
    _estimate_cost(session, settings, report, definition, summary, renderer)
    return report


# -- summaries ----------------------------------------------------------------------------------------------------
@dataclass
class Summary:
    """Counts per (channel, status, reason, variant, country, timezone) and a few sample rows."""

    counts: Counter[tuple[Any, ...]]
    samples: list[Claimed]


def _summarise(session: Session, source: Any) -> Summary:
    query = (select(source.c.channel, source.c.status, source.c.reason, source.c.variant_id, Contact.country,
                    Contact.timezone, func.count())
             .join(Contact, Contact.id == source.c.contact_id)
             .group_by(source.c.channel, source.c.status, source.c.reason, source.c.variant_id, Contact.country,
                       Contact.timezone))
    counts: Counter[tuple[Any, ...]] = Counter()
    for *key, count in session.execute(query):
        counts[tuple(key)] += count
    return Summary(counts, _sample_jobs(session, source))


def _sample_jobs(session: Session, source: Any) -> list[Claimed]:
    """Up to three contacts to render: one per (channel, variant) first, the smallest ids."""
    query = (select(func.min(source.c.contact_id), source.c.channel, source.c.variant_id)
             .where(source.c.status.in_(UNCLAIMED))
             .group_by(source.c.channel, source.c.variant_id).order_by(source.c.channel, source.c.variant_id)
             .limit(SAMPLES))
    return [Claimed("sample", contact_id, channel, variant_id)
            for contact_id, channel, variant_id in session.execute(query)]


def _fill(report: PlanReport, summary: Summary, renderer: Renderer) -> None:
    excluded: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    variants: Counter[Any] = Counter()
    for (channel, status, reason, variant_id, _country, _tz), count in summary.counts.items():
        report.audience += count
        if status == MessageStatus.EXCLUDED:
            excluded[reason or "unreachable"] += count
        elif status == MessageStatus.HELD_OUT:
            report.held_out += count
        elif status == MessageStatus.CANCELLED:
            excluded["cancelled"] += count
        else:
            report.to_send += count
            report.waiting_for_winner += count if status == MessageStatus.WAITING else 0
            channels[channel] += count
            variants[variant_id] += count
    report.excluded = dict(excluded.most_common())
    report.per_channel = dict(channels.most_common())
    report.per_variant = {renderer.variant_name(key) or "after the test": value
                          for key, value in variants.most_common()}


def _timing(settings: Settings, report: PlanReport, definition: CampaignDefinition, start: datetime,
            summary: Summary) -> None:
    times = []
    for (channel, status, _reason, _variant, country, tz), count in summary.counts.items():
        if status not in UNCLAIMED:
            continue
        group = timing.Group(channel, tz, country)
        moment = timing.send_time(definition, start, group, settings.default_timezone)
        times.append(moment)
        if moment > timing.send_time(definition, start, group, settings.default_timezone, quiet_hours=False):
            report.deferred_by_quiet_hours += count
    report.first_send_at = min(times, default=None)
    report.last_send_at = max(times, default=None)


def _estimate_cost(session: Session, settings: Settings, report: PlanReport, definition: CampaignDefinition,
                   summary: Summary, renderer: Renderer) -> None:
    """Cost of the messages to send: parts per (channel, variant) from the sample renders (1 when unknown)."""
    prices = PriceList.for_campaign(definition, settings.unit_prices)
    parts: dict[tuple[str, Any], int] = defaultdict(lambda: 1)
    contacts = load_contacts(session, [job.contact_id for job in summary.samples])
    for job in summary.samples:
        sample = _sample(renderer, job, contacts.get(job.contact_id))
        if sample is not None:
            report.samples.append(sample)
            parts[(job.channel, job.variant_id)] = sample["parts"]
    total = Decimal(0)
    for (channel, status, _reason, variant_id, country, _tz), count in summary.counts.items():
        if status in (*UNCLAIMED, MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED):
            provider = settings.channel_config(channel)["backend"]
            total += count * prices.price(channel, parts=parts[(channel, variant_id)], provider=provider,
                                          country=country, postage_class=definition.postage_class)
    report.estimated_cost = total


def _sample(renderer: Renderer, job: Claimed, contact: dict[str, Any] | None) -> dict[str, Any] | None:
    if contact is None:
        return None
    base = {"contact_id": job.contact_id, "channel": job.channel, "variant": renderer.variant_name(job.variant_id)}
    try:
        message = renderer.render(Claimed(f"sample-{job.contact_id}", job.contact_id, job.channel, job.variant_id),
                                  contact)
    except TemplateError as exc:
        return {**base, "to": None, "error": str(exc), "parts": 1}
    preview = message.subject if job.channel == "email" else (message.text or "")[:160]
    if job.channel == "mail":
        preview = " / ".join(message.address_lines)
    return {**base, "to": message.to, "preview": preview, "parts": parts_of(message),
            "template": message.metadata.get("template"), "locale": message.metadata.get("locale")}
