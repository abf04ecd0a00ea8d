"""What a provider's answer means for the ledger: sent with its cost, failed with a reason, or retried later."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from campaigns.pricing import PriceList
from campaigns.rendering import parts_of
from connectors.base import Outcome as SendOutcome
from connectors.base import OutgoingMessage, Rejection, SendResult
from core import clock
from core.ledger import Claimed, MessageStatus, Outcome

BACKOFF_SECONDS = 30.0
MAX_BACKOFF_SECONDS = 3600.0


@dataclass
class Tally:
    """Counts of one batch's outcomes, for progress and the error-rate check."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    unknown: int = 0  # the provider may have them: settled by its feedback
    cost: Decimal = Decimal(0)
    last_error: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def attempted(self) -> int:
        return self.sent + self.failed

    def add(self, outcome: Outcome) -> None:
        if outcome.status == MessageStatus.SENT:
            self.sent += 1
            self.cost += outcome.cost or 0
        elif outcome.status == MessageStatus.FAILED:
            self.failed += 1
            self.reasons[outcome.reason or "failed"] = self.reasons.get(outcome.reason or "failed", 0) + 1
            self.last_error = outcome.error or outcome.reason
        elif outcome.status == MessageStatus.UNKNOWN:
            self.unknown += 1
        else:
            self.retried += 1


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    """Exponential backoff with jitter, never sooner than the provider asked."""
    seconds = min(BACKOFF_SECONDS * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS) * random.uniform(0.8, 1.2)
    return timedelta(seconds=max(seconds, retry_after or 0.0))


@dataclass(frozen=True)
class Pricing:
    """How to price one accepted message."""

    prices: PriceList
    postage_class: str


def outcome_for(job: Claimed, message: OutgoingMessage, result: SendResult, *, country: str | None, pricing: Pricing,
                max_attempts: int, grace_seconds: float) -> Outcome:
    """The ledger outcome of one provider result."""
    if result.outcome == SendOutcome.ACCEPTED:
        parts = result.parts if result.parts > 1 else parts_of(message)
        cost = result.cost if result.cost is not None else pricing.prices.price(
            job.channel, parts=parts, provider=result.provider, country=country, postage_class=pricing.postage_class)
        return Outcome(job.message_id, MessageStatus.SENT, result.provider, result.provider_message_id, cost, parts)
    if result.outcome == SendOutcome.REJECTED:
        rejection = result.rejection or Rejection.REJECTED
        return Outcome(job.message_id, MessageStatus.FAILED, result.provider, reason=str(rejection),
                       error=(result.reason or str(rejection))[:2000])
    if result.outcome == SendOutcome.UNKNOWN:  # may have gone out: wait for the provider's own word
        return Outcome(job.message_id, MessageStatus.UNKNOWN, result.provider, reason="no_answer",
                       error=(result.reason or "no answer")[:2000],
                       next_attempt_at=clock.now() + timedelta(seconds=grace_seconds))
    if job.attempts >= max_attempts:
        return Outcome(job.message_id, MessageStatus.FAILED, result.provider, reason="retries_exhausted",
                       error=f"gave up after {job.attempts} attempts: {result.reason}"[:2000])
    return Outcome(job.message_id, MessageStatus.QUEUED, result.provider, reason="retrying",
                   error=(result.reason or "")[:2000],
                   next_attempt_at=clock.now() + backoff(job.attempts, result.retry_after))


def crashed(job: Claimed, error: BaseException, grace_seconds: float) -> Outcome:
    """The backend raised: whether anything went out is unknown, so wait for the provider's word."""
    return Outcome(job.message_id, MessageStatus.UNKNOWN, reason="backend_error",
                   error=f"{type(error).__name__}: {error}"[:2000],
                   next_attempt_at=clock.now() + timedelta(seconds=grace_seconds))


def render_failure(job: Claimed, error: BaseException) -> Outcome:
    """A message that could not be rendered (missing address, template error) fails for good."""
    return Outcome(job.message_id, MessageStatus.FAILED, reason="render_error", error=str(error)[:2000])
