"""Where a campaign stands: messages per status and channel, throughput, ETA and cost so far (aggregates only)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import clock
from core.ledger import OPEN, WENT_OUT, MessageStatus
from core.models import Campaign, Message

THROUGHPUT_WINDOW = timedelta(seconds=60)


@dataclass
class CampaignStatus:
    """A snapshot of one campaign's ledger."""

    campaign: str
    status: str
    reason: str | None
    by_status: dict[str, int] = field(default_factory=dict)
    sent_by_channel: dict[str, int] = field(default_factory=dict)
    cost_so_far: Decimal = Decimal(0)
    currency: str = "EUR"
    budget: Decimal | None = None
    per_minute: float = 0.0
    started_at: datetime | None = None
    completed_at: datetime | None = None
    eta: datetime | None = None

    @property
    def pending(self) -> int:
        return sum(self.by_status.get(status, 0) for status in OPEN)

    @property
    def sent(self) -> int:
        return sum(self.by_status.get(status, 0) for status in WENT_OUT)

    @property
    def to_send(self) -> int:
        """Messages meant to go out: pending plus those already settled (sent or failed)."""
        return self.pending + self.sent + self.by_status.get(MessageStatus.FAILED, 0)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "pending": self.pending, "sent": self.sent, "to_send": self.to_send}


def campaign_status(session: Session, campaign: Campaign) -> CampaignStatus:
    """Counts per status and channel, spend, the last minute's throughput and an ETA at that pace."""
    report = CampaignStatus(campaign.name, campaign.status, campaign.status_reason, currency=campaign.currency,
                            budget=campaign.budget, started_at=campaign.started_at,
                            completed_at=campaign.completed_at)
    rows = session.execute(select(Message.status, Message.channel, func.count(), func.sum(Message.cost))
                           .where(Message.campaign_id == campaign.id).group_by(Message.status, Message.channel))
    cost = Decimal(0)
    for status, channel, count, spent in rows:
        report.by_status[status] = report.by_status.get(status, 0) + count
        if status in WENT_OUT:
            report.sent_by_channel[channel] = report.sent_by_channel.get(channel, 0) + count
        cost += Decimal(str(spent or 0))
    report.cost_so_far = cost
    since = clock.now() - THROUGHPUT_WINDOW
    recent = session.scalar(select(func.count()).where(
        Message.campaign_id == campaign.id, Message.status.in_(WENT_OUT), Message.sent_at >= since)) or 0
    report.per_minute = recent * 60 / THROUGHPUT_WINDOW.total_seconds()
    if report.per_minute and report.pending:
        report.eta = clock.now() + timedelta(minutes=report.pending / report.per_minute)
    return report
