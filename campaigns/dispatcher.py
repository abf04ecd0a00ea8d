"""The dispatcher: claims due messages under a lease, renders them, sends them through the channel's backend and
records each outcome with its provider id and cost — batch by batch, so any number of dispatchers can share a
campaign and a crash loses or duplicates nothing (see campaigns.recovery)."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from campaigns import ledger
from campaigns.definition import CampaignDefinition
from campaigns.lifecycle import complete_if_done, pause_for_errors, reconcile_campaign, unit_costs
from campaigns.outcomes import Pricing, Tally, crashed, outcome_for, render_failure
from campaigns.pricing import PriceList
from campaigns.rendering import Renderer, load_contacts, parts_of
from campaigns.service import EDITABLE, definition_of, pause_campaign
from campaigns.winner import decide_winner
from connectors.base import Backend, OutgoingMessage, Rejection, SendResult
from connectors.registry import get_backend
from core import clock
from core.db import session_scope
from core.ledger import Claimed, Outcome, claim, record, release
from core.models import Campaign
from core.settings import Settings
from feedback.apply import apply_all
from feedback.consent_changes import change_consents, provider_opt_out
from feedback.requests import proving_providers
from templates.errors import TemplateError

Throttle = Callable[[str, int], None]  # (provider, messages about to go) -> returns when they may
THROTTLE_CHUNK = 100
RECONCILE_EVERY = 5.0  # seconds between reconciliations while batches keep coming


@dataclass
class BatchResult:
    """What one batch did; `stopped` names the campaign status when it is not sending."""

    claimed: int = 0
    tally: Tally = field(default_factory=Tally)
    released: int = 0
    stopped: str | None = None
    paused_because: str | None = None


@dataclass
class Rendered:
    """A batch after rendering: messages ready per channel, failures already decided, contacts' countries."""

    by_channel: dict[str, list[tuple[Claimed, OutgoingMessage]]] = field(default_factory=lambda: defaultdict(list))
    failures: list[Outcome] = field(default_factory=list)
    countries: dict[int, str | None] = field(default_factory=dict)
    variants: dict[str, str | None] = field(default_factory=dict)

    def ordered(self) -> list[tuple[Claimed, OutgoingMessage]]:
        return [item for items in self.by_channel.values() for item in items]


def default_owner() -> str:
    """A lease owner name unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Dispatcher:
    """Sends campaigns' due messages. One per process; backends (and their connections) live as long as it does."""

    def __init__(self, engine: Engine, settings: Settings, *, owner: str | None = None,
                 backends: Mapping[str, Backend] | None = None, throttle: Throttle | None = None,
                 batch_size: int | None = None) -> None:
        self.engine, self.settings = engine, settings
        self.owner = owner or default_owner()
        self.backends: dict[str, Backend] = dict(backends or {})
        self._own_backends: set[str] = set()
        self.throttle = throttle
        self.batch_size = batch_size or settings.batch_size
        self._last_reconcile = 0.0
        self._definitions: dict[int, CampaignDefinition] = {}

    def backend(self, channel: str) -> Backend:
        if channel not in self.backends:
            self.backends[channel] = get_backend(channel, self.settings)
            self._own_backends.add(channel)
        return self.backends[channel]

    def close(self) -> None:
        for channel in self._own_backends:
            self.backends.pop(channel).close()
        self._own_backends.clear()

    def definition(self, campaign: Campaign) -> CampaignDefinition:
        """The campaign's parsed definition, parsed once: a campaign that has started can no longer change."""
        cached = self._definitions.get(campaign.id)
        if cached is None:
            cached = definition_of(campaign)
            if campaign.status not in EDITABLE:
                self._definitions[campaign.id] = cached
        return cached

    def _load_definition(self, campaign_id: int) -> CampaignDefinition | None:
        with Session(self.engine) as session:
            campaign = session.get(Campaign, campaign_id)
            return self.definition(campaign) if campaign is not None else None

    def idempotent_channels(self, definition: CampaignDefinition) -> set[str]:
        return {channel for channel in definition.channels if channel in self.backend(channel).idempotent_channels}

    # -- one batch -------------------------------------------------------------------------------------------
    def run_batch(self, campaign_id: int) -> BatchResult:
        """Claim, render, send and record one batch of the campaign's due messages."""
        if self._reconcile_due():
            known = self._definitions.get(campaign_id) or self._load_definition(campaign_id)
            if known is not None:
                self._apply_feedback_before_resending(campaign_id, known)
        with session_scope(self.engine) as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None or campaign.status != "sending":
                return BatchResult(stopped=campaign.status if campaign is not None else "missing")
            definition = self.definition(campaign)
            self._maybe_reconcile(session, campaign, definition)
            decide_winner(session, campaign, definition)
            jobs = claim(session, campaign_id, owner=self.owner, lease_seconds=self.settings
                                .dispatch_lease_seconds, limit=self.batch_size)
        if not jobs:
            return BatchResult()
        with Session(self.engine) as session:
            campaign = session.get(Campaign, campaign_id)
            assert campaign is not None
            rendered = self._render(session, campaign, definition, jobs)
        return self._send_and_record(campaign, definition, jobs, rendered)

    def _reconcile_due(self) -> bool:
        return time.monotonic() - self._last_reconcile >= RECONCILE_EVERY

    def _apply_feedback_before_resending(self, campaign_id: int, definition: CampaignDefinition) -> None:
        """Feedback received but not applied yet may prove a send: apply it before any `unknown` is resent — only
        the requests of the providers that report on this campaign's channels."""
        providers = proving_providers(definition.channels)
        if not providers:
            return
        with Session(self.engine) as session:
            due = ledger.unknown_due(session, campaign_id)
        if due:
            apply_all(self.engine, self.settings, providers=providers)

    def _maybe_reconcile(self, session: Session, campaign: Campaign, definition: CampaignDefinition,
                         force: bool = False) -> None:
        if force or self._reconcile_due():
            reconcile_campaign(session, self.settings, campaign, definition, self.idempotent_channels(definition))
            self._last_reconcile = time.monotonic()

    def _render(self, session: Session, campaign: Campaign, definition: CampaignDefinition,
                jobs: list[Claimed]) -> Rendered:
        renderer = Renderer(session, self.settings, campaign, definition)
        contacts = load_contacts(session, [job.contact_id for job in jobs])
        rendered = Rendered()
        for job in jobs:
            contact = contacts.get(job.contact_id)
            try:
                if contact is None:
                    raise TemplateError(f"contact {job.contact_id} no longer exists")
                message = renderer.render(job, contact)
            except (TemplateError, ValueError) as exc:
                rendered.failures.append(render_failure(job, exc))
                continue
            rendered.by_channel[job.channel].append((job, message))
            rendered.countries[job.contact_id] = contact.get("country")
            rendered.variants[job.message_id] = renderer.variant_name(job.variant_id)
        return rendered

    def _send_and_record(self, campaign: Campaign, definition: CampaignDefinition, jobs: list[Claimed],
                         rendered: Rendered) -> BatchResult:
        result = BatchResult(claimed=len(jobs))
        pricing = Pricing(PriceList.for_campaign(definition, self.settings.unit_prices), definition.postage_class)
        reserved, released = self._reserve(campaign, definition, rendered, pricing)
        result.released = len(released)
        outcomes = list(rendered.failures)
        for channel, items in rendered.by_channel.items():
            outcomes += self._send_channel(channel, items, rendered, pricing)
        for outcome in outcomes:
            result.tally.add(outcome)
        with session_scope(self.engine) as session:
            record(session, outcomes)
            ledger.refund(session, campaign.id, reserved - result.tally.cost)
            self._after_send(session, outcomes, rendered)
            result.paused_because = pause_for_errors(session, campaign.id, definition, result.tally)
        return result

    def _reserve(self, campaign: Campaign, definition: CampaignDefinition, rendered: Rendered,
                 pricing: Pricing) -> tuple[Decimal, list[str]]:
        """Reserve the batch's cost against the budget; what does not fit is released and the campaign paused."""
        costs = [(job, self._estimate(job, message, rendered, pricing)) for job, message in rendered.ordered()]
        total = sum((cost for _, cost in costs), Decimal(0))
        with session_scope(self.engine) as session:
            if ledger.reserve(session, campaign.id, total, definition.fixed_cost()):
                return total, []
            room = ledger.remaining_budget(session, campaign.id, definition.fixed_cost()) or Decimal(0)
            kept: set[str] = set()
            allowed = Decimal(0)
            for job, cost in costs:
                if allowed + cost > room:
                    break
                allowed += cost
                kept.add(job.message_id)
            if not ledger.reserve(session, campaign.id, allowed, definition.fixed_cost()):
                kept, allowed = set(), Decimal(0)  # another dispatcher took that room meanwhile: send nothing
            released = [job.message_id for job, _ in costs if job.message_id not in kept]
            release(session, released)
            current = session.get(Campaign, campaign.id)
            if current is not None and current.status == "sending":  # another dispatcher may have paused it
                pause_campaign(session, current, f"budget reached: {definition.budget} {definition.currency} "
                               f"(fixed costs included); {len(released)} messages not sent", actor="dispatcher")
        for channel, items in rendered.by_channel.items():
            rendered.by_channel[channel] = [(job, message) for job, message in items if job.message_id in kept]
        return allowed, released

    def _estimate(self, job: Claimed, message: OutgoingMessage, rendered: Rendered, pricing: Pricing) -> Decimal:
        return pricing.prices.price(job.channel, parts=parts_of(message), provider=self.backend(job.channel).name,
                                    country=rendered.countries.get(job.contact_id),
                                    postage_class=pricing.postage_class)

    def _send_channel(self, channel: str, items: list[tuple[Claimed, OutgoingMessage]], rendered: Rendered,
                      pricing: Pricing) -> list[Outcome]:
        backend = self.backend(channel)
        results: list[SendResult] = []
        try:
            step = THROTTLE_CHUNK if self.throttle is not None else max(len(items), 1)
            for start in range(0, len(items), step):
                chunk = [message for _, message in items[start:start + step]]
                if self.throttle is not None:
                    self.throttle(backend.name, len(chunk))
                results += backend.send(chunk)
        except Exception as exc:  # noqa: BLE001 - a broken backend must not lose track of the batch
            done = {result.message_id for result in results}
            lost = [crashed(job, exc, self.settings.unknown_grace_seconds) for job, _ in items
                    if job.message_id not in done]
            return self._outcomes(items[:len(results)], results, rendered, pricing) + lost
        return self._outcomes(items, results, rendered, pricing)

    def _outcomes(self, items: list[tuple[Claimed, OutgoingMessage]], results: list[SendResult], rendered: Rendered,
                  pricing: Pricing) -> list[Outcome]:
        return [outcome_for(job, message, result, country=rendered.countries.get(job.contact_id), pricing=pricing,
                            max_attempts=self.settings.max_send_attempts,
                            grace_seconds=self.settings.unknown_grace_seconds)
                for (job, message), result in zip(items, results, strict=True)]

    def _after_send(self, session: Session, outcomes: list[Outcome], rendered: Rendered) -> None:
        """SMS refused as opted out at the provider mirrored as an opt-out, as feedback does. (Sends themselves are
        not copied to the timeline: the ledger is their record, shown in the contact's 360° view.)"""
        opted_out = {outcome.message_id: outcome for outcome in outcomes if outcome.reason == Rejection.OPTED_OUT}
        change_consents(session, [provider_opt_out(job.contact_id, opted_out[job.message_id].provider, clock.now())
                                  for job, _ in rendered.ordered()
                                  if job.channel == "sms" and job.message_id in opted_out])

    # -- a whole run -----------------------------------------------------------------------------------------
    def run(self, campaign_id: int, *, until_done: bool = False, on_batch: Callable[[BatchResult], None] | None = None,
            poll_seconds: float = 5.0, sleep: Callable[[float], None] = time.sleep) -> str:
        """Send batches until nothing is due. With `until_done`, also wait for later send times, expiring leases
        and the provider's word, until the campaign completes or stops. Returns the campaign's status."""
        while True:
            result = self.run_batch(campaign_id)
            if on_batch is not None:
                on_batch(result)
            if result.stopped is not None:
                return result.stopped
            if result.claimed:
                continue
            status, wait = self._idle(campaign_id)
            if status != "sending" or not until_done:
                return status
            sleep(min(max(wait, 0.2), poll_seconds))

    def settle(self, campaign_id: int) -> str:
        """Reconcile the campaign and complete it if nothing is left; returns its status."""
        return self._idle(campaign_id)[0]

    def _idle(self, campaign_id: int) -> tuple[str, float]:
        """Nothing was claimed: reconcile, complete the campaign if it is done; else how long until work is due."""
        known = self._definitions.get(campaign_id) or self._load_definition(campaign_id)
        if known is not None:
            self._apply_feedback_before_resending(campaign_id, known)
        with session_scope(self.engine) as session:
            campaign = session.get(Campaign, campaign_id)
            assert campaign is not None
            definition = self.definition(campaign)
            self._maybe_reconcile(session, campaign, definition, force=True)
            if complete_if_done(session, campaign, unit_costs(self.settings, definition)):
                return campaign.status, 0.0
            due = ledger.next_due(session, campaign_id)
        return campaign.status, (clock.utc(due) - clock.now()).total_seconds() if due else 1.0


def summary_line(result: BatchResult) -> dict[str, Any]:
    """A batch as plain data (for flows and logs)."""
    return {"claimed": result.claimed, "sent": result.tally.sent, "failed": result.tally.failed,
            "retried": result.tally.retried, "unknown": result.tally.unknown, "released": result.released,
            "cost": str(result.tally.cost),
            "stopped": result.stopped, "paused_because": result.paused_because}
