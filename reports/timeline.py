"""A campaign over time: messages sent and responses (deliveries, opens, clicks, bounces, conversions) per day."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Conversion, Event
from reports.caches import daily
from reports.caches.columns import FLAG_TYPES
from reports.caches.engagement import ensure_fresh
from reports.sql import json_flag, utc_day

RESPONSES = FLAG_TYPES  # every response the per-message cache flags


def campaign_timeline(session: Session, campaign_id: int) -> list[dict[str, Any]]:
    """Long format rows {day, series, count}: 'sent', each response type (human opens/clicks) and 'conversion'."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    ensure_fresh(session)
    for (day,), sums in daily.totals(session, ("day",), ("messages",), campaign_id=campaign_id).items():
        counts[(str(day), "sent")] += sums["messages"]
    event_day = utc_day(session, Event.occurred_at)
    human = ~json_flag(session, Event.properties, "machine")
    for day, kind, count in session.execute(
            select(event_day, Event.type, func.count())
            .where(Event.campaign_id == campaign_id, Event.type.in_(RESPONSES), human)
            .group_by(event_day, Event.type)):
        counts[(str(day), str(kind))] += int(count)
    conversion_day = utc_day(session, Conversion.occurred_at)
    for day, count in session.execute(select(conversion_day, func.count()).where(
            Conversion.campaign_id == campaign_id).group_by(conversion_day)):
        counts[(str(day), "conversion")] += int(count)
    return [{"day": day, "series": series, "count": count} for (day, series), count in sorted(counts.items())]
