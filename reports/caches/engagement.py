"""The report caches, kept up to date from the ledger and the timeline: the per-message response cache
(`message_stats`), its daily sums (`report_send_days`) and the attribution touches (`report_touches`).

Scanning tens of millions of events — or the wide ledger — per page is what makes dashboards slow; instead every
sent message gets one narrow row of 0/1 flags and first response times, and pages read daily sums of those rows.
`refresh` brings everything up to date in a few set-based statements: rows for newly sent messages (found by
comparing counts), then the events and conversions added since the last refresh (id cursors, re-reading a margin
for transactions that committed late; flags only go from 0 to 1 and times only move earlier, so re-reading is
harmless). The daily sums and touches depend on the attribution window: they are built for the window last asked
for and rebuilt when another is asked for. `rebuild` starts over. Besides exchange rates, these caches are the
only writes in reports/.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from core import clock
from core.dialect import is_sqlite
from core.models import Conversion, Event, Message
from core.models.reports import LedgerDay, MessageStat, ReportCursor, SendDay, Touch
from reports.caches import daily, ledger_days, responses, sends, touches
from reports.caches.columns import DEFAULT_WINDOW_DAYS

MARGIN = 10_000  # ids re-read below each cursor: events whose transaction committed after a later one
_FRESH = "relance_report_cache"
_WINDOW = "window_ms"


@dataclass(frozen=True)
class Refreshed:
    """What one refresh did."""

    new_messages: int
    events_read_from: int
    conversions_read_from: int
    skipped: bool = False
    window_days: float | None = None  # what the daily sums and touches are built for


def writer_lock(session: Session) -> bool:
    """One cache writer at a time on PostgreSQL (others read the caches as they are; held until the transaction
    ends); SQLite serialises writers itself."""
    if is_sqlite(session):
        return True
    return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(hashtext('relance.message_stats'))")).scalar())


def _store(session: Session, name: str, position: int) -> None:
    cursor = session.get(ReportCursor, name)
    if cursor is None:
        session.add(ReportCursor(name=name, position=position, updated_at=clock.now()))
    elif cursor.position != position:
        cursor.position, cursor.updated_at = position, clock.now()


def _ms(window_days: float) -> int:
    return round(window_days * 86_400_000)


def ensure_fresh(session: Session, window_days: float | None = None) -> bool:
    """Refresh once per transaction (every report entry point calls this before reading the caches); True when
    the daily sums and touches answer for `window_days` (None: any window), else read message_stats instead."""
    transaction = session.get_transaction()
    state = session.info.get(_FRESH)
    if state is None or state[0] is not transaction:
        built_for = refresh(session, window_days).window_days
        state = (session.get_transaction(), built_for)  # the transaction the refresh ran in
    elif _other_window(window_days, state[1]) and writer_lock(session):
        _rebuild_windowed(session, window_days)  # type: ignore[arg-type]
        state = (state[0], window_days)
    session.info[_FRESH] = state
    return window_days is None or not _other_window(window_days, state[1])


def _other_window(asked: float | None, built_for: float | None) -> bool:
    return asked is not None and (built_for is None or _ms(asked) != _ms(built_for))


def refresh(session: Session, window_days: float | None = None) -> Refreshed:
    """Bring the caches up to date with messages, events and conversions (and with `window_days`)."""
    seen = {row.name: row.position for row in session.scalars(select(ReportCursor))}
    built_for = seen[_WINDOW] / 86_400_000 if _WINDOW in seen else None
    if not writer_lock(session):
        return Refreshed(0, 0, 0, skipped=True, window_days=built_for)
    window = window_days if window_days is not None else (built_for or DEFAULT_WINDOW_DAYS)
    kept_for = built_for or window  # new rows go into the sums as they are built; a new window rebuilds them after
    last_event = int(session.scalar(select(func.max(Event.id))) or 0)
    last_conversion = int(session.scalar(select(func.max(Conversion.id))) or 0)
    event_range = _new_range(seen.get("events"), last_event)
    conversion_range = _new_range(seen.get("conversions"), last_conversion)
    responses.forget_merged(session, event_range, kept_for)
    responses.apply(session, event_range, conversion_range, kept_for)
    added = sends.add_sent(session, _stale_campaigns(session, kept_for), kept_for)
    if not seen:  # a first build: the ledger counts too, rather than on the first page that needs them
        ledger_days.recount(session, ledger_days.stale(session))
    if _ms(window) != _ms(kept_for):
        _rebuild_windowed(session, window)
    _store(session, "events", last_event)
    _store(session, "conversions", last_conversion)
    _store(session, _WINDOW, _ms(window))
    session.flush()
    return Refreshed(added, event_range[0], conversion_range[0], window_days=window)


def _new_range(position: int | None, last: int) -> tuple[int, int]:
    """(low, high] of ids to read: empty when nothing was added or on the first refresh (every row is then made
    from all time), else from a margin below the cursor."""
    if position is None or last <= position:
        return last, last
    return max(position - MARGIN, 0), last


def _rebuild_windowed(session: Session, window_days: float) -> None:
    """Daily sums and touches for another attribution window."""
    daily.rebuild(session, window_days)
    touches.rebuild(session, window_days)
    _store(session, _WINDOW, _ms(window_days))
    session.flush()


def rebuild(session: Session, window_days: float | None = None) -> Refreshed:
    """Forget the caches and compute them again from the ledger and the whole timeline."""
    window = window_days if window_days is not None else cache_window(session)
    if is_sqlite(session):
        for table in (Touch, SendDay, LedgerDay, MessageStat, ReportCursor):
            session.execute(delete(table))
    else:
        session.execute(text("TRUNCATE report_touches, report_send_days, report_ledger_days, message_stats, "
                             "report_cursors"))
    session.flush()
    session.info.pop(_FRESH, None)
    return refresh(session, window)


def _stale_campaigns(session: Session, window_days: float) -> list[int]:
    """Campaigns whose cached rows or daily sums differ from their sent messages.

    The daily sums count the cached rows, which are a subset of sent messages (made only for them, deleted with
    them): when their total equals the ledger's count of sent messages — two index-only reads — nothing is
    missing; only otherwise are campaigns compared one by one (and a campaign whose daily sums lost rows to a
    deletion gets them summed again).
    """
    sent_total = session.scalar(select(func.count(Message.sent_at))) or 0
    summed = dict(session.execute(select(SendDay.campaign_id, func.sum(SendDay.messages))
                                  .group_by(SendDay.campaign_id)).tuples().all())
    if sent_total == sum(int(value or 0) for value in summed.values()):
        return []
    if not summed and not session.scalar(select(MessageStat.message_id).limit(1)):
        # A first build: every campaign that sent anything (an index-only read instead of a count per campaign).
        return sorted(session.scalars(select(Message.campaign_id).where(Message.sent_at.is_not(None))
                                      .distinct()))
    sent = dict(session.execute(select(Message.campaign_id, func.count(Message.sent_at))
                                .group_by(Message.campaign_id)).tuples().all())
    cached = dict(session.execute(select(MessageStat.campaign_id, func.count())
                                  .group_by(MessageStat.campaign_id)).tuples().all())
    lost = sorted(key for key in {*summed, *cached} if int(summed.get(key) or 0) != int(cached.get(key) or 0))
    if lost:
        daily.rebuild(session, window_days, lost)
    return sorted(key for key in {*sent, *cached} if sent.get(key, 0) != cached.get(key, 0))


def cache_window(session: Session) -> float | None:
    """The attribution window (days) the daily sums and touches were built for (None: never built)."""
    stored = session.get(ReportCursor, _WINDOW)
    return stored.position / 86_400_000 if stored is not None else None


def backlog(session: Session) -> int:
    """Sent messages not in the cache yet (what the next refresh has to summarise): two index-only counts."""
    sent_total = int(session.scalar(select(func.count(Message.sent_at))) or 0)
    cached = int(session.scalar(select(func.count()).select_from(MessageStat)) or 0)
    return max(sent_total - cached, 0)
