"""After a crash: expired leases are reconciled, never blindly resent. A message whose send was cut off is
`unknown` until the provider's own feedback (SendGrid `processed`, a Twilio status callback…) proves it went out;
only what the provider never saw is queued again, once a grace period has passed. Channels whose backend is
idempotent by message id (files named after the id) are requeued at once. The statements are core.ledger's."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from core import ledger


@dataclass
class Reconciled:
    """What one reconciliation changed."""

    requeued: int = 0  # idempotent channels: resent straight away
    unknown: int = 0  # leases expired mid-send: now waiting for the provider's word
    confirmed: int = 0  # the provider reported on them: they were sent
    resent: int = 0  # grace over and the provider never saw them: queued again

    def __bool__(self) -> bool:
        return bool(self.requeued or self.unknown or self.confirmed or self.resent)


def reconcile(session: Session, campaign_id: int, *, idempotent_channels: Collection[str], grace_seconds: float,
              unit_costs: Mapping[str, Decimal]) -> Reconciled:
    """Settle the campaign's messages whose fate is unknown; each step is one UPDATE."""
    done = Reconciled()
    done.requeued, done.unknown = ledger.expire_leases(session, campaign_id, idempotent_channels=idempotent_channels,
                                                       grace_seconds=grace_seconds)
    done.confirmed = ledger.confirm_seen(session, campaign_id, unit_costs=unit_costs)
    done.resent = ledger.resend_unseen(session, campaign_id)
    return done


def settle_recovered(session: Session, campaign_id: int, *, unit_costs: Mapping[str, Decimal]) -> int:
    """When a campaign ends: messages whose send was only proven by feedback get their send time and cost."""
    return ledger.settle_recovered(session, campaign_id, unit_costs=unit_costs)
