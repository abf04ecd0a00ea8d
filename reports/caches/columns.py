"""What the report caches hold, named once: response flags, first responses, windowed counts, daily keys."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, func
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from reports.sql import epoch, utc_date

FLAG_TYPES = ("email.delivered", "sms.delivered", "email.opened", "email.clicked", "email.unsubscribed",
              "email.bounced", "sms.failed", "mail.returned", "email.complained")
FLAGS = ("delivered", "opened", "machine_opened", "clicked", "unsubscribed", "bounced", "complained", "returned")
FIRSTS = {"conversion": "first_conversion_at", "lead": "first_lead_at", "stop": "first_stop_at"}
# Daily counts of messages (not bounced) whose contact responded within the window after the send.
WINDOWED = {"converted": "first_conversion_at", "leads": "first_lead_at", "stopped": "first_stop_at"}
DAY_KEYS = ("campaign_id", "variant_key", "channel", "provider_key", "sent_on", "planned_on")
DEFAULT_WINDOW_DAYS = 30.0


def window_seconds(window_days: float) -> float:
    """The window as the funnels and attribution compare it (seconds, float)."""
    return window_days * 86400.0


def within(session: Session, first: Any, sent_at: Any, bounced: Any, window_days: float) -> ColumnElement[int]:
    """1 when the message reached its contact and `first` (a response time) is within the window after the send."""
    return case((and_(bounced == 0, first.is_not(None),
                      epoch(session, first) - epoch(session, sent_at) <= window_seconds(window_days)), 1), else_=0)


def day_keys(session: Session, rows: Any) -> dict[str, ColumnElement[Any]]:
    """The report_send_days key of message_stats-shaped rows (a table or subquery with message_stats' column
    names); no NULL in a key: variant 0, provider ''."""
    return {
        "campaign_id": rows.c.campaign_id,
        "variant_key": func.coalesce(rows.c.variant_id, 0),
        "channel": rows.c.channel,
        "provider_key": func.coalesce(rows.c.provider, ""),
        "sent_on": utc_date(session, rows.c.sent_at),
        "planned_on": utc_date(session, rows.c.planned_at),
    }
