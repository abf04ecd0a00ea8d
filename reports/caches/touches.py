"""The attribution touches cache (`report_touches`): for every conversion, the messages sent to its contact, not
bounced, within the attribution window before it. Kept with new conversions, new sends and new bounces, so the
four models share conversions out over a few narrow rows instead of joining conversions to every send."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, delete, select, true
from sqlalchemy.orm import Session

from core.dialect import dialect_insert
from core.models import Conversion
from core.models.reports import MessageStat, Touch
from reports.caches.columns import window_seconds
from reports.sql import epoch

STATS = MessageStat.__table__
COLUMNS = ["conversion_id", "message_id", "campaign_id", "channel", "sent_at", "occurred_at"]


def _pairs(session: Session, window_days: float) -> Any:
    """(conversion, message) pairs that are touches, to be narrowed by the caller."""
    gap = epoch(session, Conversion.occurred_at) - epoch(session, STATS.c.sent_at)
    return (select(Conversion.id, STATS.c.message_id, STATS.c.campaign_id, STATS.c.channel, STATS.c.sent_at,
                   Conversion.occurred_at)
            .select_from(Conversion).join(STATS, STATS.c.contact_id == Conversion.contact_id)
            .where(true(), Conversion.contact_id.is_not(None), STATS.c.bounced == 0,
                   STATS.c.sent_at <= Conversion.occurred_at, gap <= window_seconds(window_days)))


def _insert(session: Session, pairs: Any) -> None:
    statement = dialect_insert(session)(Touch).from_select(COLUMNS, pairs).on_conflict_do_nothing()
    session.execute(statement)


def add_conversions(session: Session, id_range: tuple[int, int], window_days: float) -> None:
    """Touches of the conversions with ids in (low, high]."""
    low, high = id_range
    if high > low:
        _insert(session, _pairs(session, window_days).where(Conversion.id > low, Conversion.id <= high))


def add_messages(session: Session, staged: Table, window_days: float) -> None:
    """Touches of newly cached messages (their ids in the staged table)."""
    _insert(session, _pairs(session, window_days).join(staged, staged.c.message_id == STATS.c.message_id))


def drop_bounced(session: Session, diffs: Table) -> None:
    """A message that bounced after all touched nobody."""
    bounced = select(diffs.c.message_id).where(diffs.c.old_bounced == 0, diffs.c.new_bounced == 1)
    session.execute(delete(Touch).where(Touch.message_id.in_(bounced)),
                    execution_options={"synchronize_session": False})


def rebuild(session: Session, window_days: float) -> None:
    """Every touch again (the window changed, or the cache is rebuilt)."""
    session.execute(delete(Touch))
    _insert(session, _pairs(session, window_days))
