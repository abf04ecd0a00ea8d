"""Responses added to the timeline since the last refresh, applied to the cached messages they concern.

New events and conversions (read from id cursors, with a margin) give candidate values: flags of the messages
they name, and first conversion / lead / STOP times of the sent messages of their contacts. Staged, then compared
with the cache: only real changes (a flag from 0 to 1, a time moving earlier) are written to message_stats, moved
into the daily sums as differences, and bounces remove the message's attribution touches. Re-reading the same
responses changes nothing, which is what makes the margin harmless.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    Date,
    Integer,
    SmallInteger,
    String,
    and_,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from core.dialect import analyze, greatest, least, temporary
from core.models import Event, MessageStat, UTCDateTime
from reports.caches import daily, touches
from reports.caches.columns import DAY_KEYS, FIRSTS, FLAG_TYPES, FLAGS, day_keys
from reports.caches.sends import flag_values, responses

STATS = MessageStat.__table__
Range = tuple[int, int]


def _candidate_columns() -> list[Column[Any]]:
    flags: list[Column[Any]] = [Column(name, SmallInteger) for name in FLAGS]
    return [Column("message_id", String(36)), *flags, *(Column(name, UTCDateTime()) for name in FIRSTS.values())]


def _diff_columns() -> list[Column[Any]]:
    keys: list[Column[Any]] = [Column("campaign_id", Integer), Column("variant_key", Integer),
                               Column("channel", String(16)), Column("provider_key", String(32)),
                               Column("sent_on", Date), Column("planned_on", Date)]
    values: list[Column[Any]] = [Column(prefix + name, SmallInteger) for name in FLAGS for prefix in ("old_", "new_")]
    values += [Column(prefix + name, UTCDateTime()) for name in FIRSTS.values() for prefix in ("old_", "new_")]
    return [Column("message_id", String(36), primary_key=True), *keys, Column("sent_at", UTCDateTime()), *values]


def forget_merged(session: Session, events: Range, window_days: float) -> None:
    """Contacts merged since the last refresh (`contact.merged` on the timeline): their messages and conversions
    now belong to the survivor, so the rows of both contacts' messages are taken out of the caches (touches go with
    them) and made again from all time by the next step, under the survivor."""
    if events[1] <= events[0]:
        return
    merged = session.execute(select(Event.contact_id, Event.properties["merged_contact_id"].as_integer()).where(
        Event.id > events[0], Event.id <= events[1], Event.type == "contact.merged")).all()
    contacts = sorted({int(value) for row in merged for value in row if value is not None})
    for start in range(0, len(contacts), 500):
        chunk = STATS.c.contact_id.in_(contacts[start:start + 500])
        daily.subtract(session, window_days, chunk)
        session.execute(delete(MessageStat).where(chunk), execution_options={"synchronize_session": False})


def apply(session: Session, events: Range, conversions: Range, window_days: float) -> None:
    """Apply the events with ids in events (low, high] and the conversions in conversions (low, high]."""
    sources = _candidates(session, events, conversions)
    if sources:
        with temporary(session, "relance_candidates", *_candidate_columns()) as candidates:
            for columns, query in sources:
                session.execute(insert(candidates).from_select(columns, query))
            analyze(session, candidates)
            with temporary(session, "relance_changes", *_diff_columns()) as diffs:
                _stage_changes(session, candidates, diffs)
                analyze(session, diffs)
                _write(session, diffs)
                daily.apply_diffs(session, diffs, window_days)
                touches.drop_bounced(session, diffs)
    touches.add_conversions(session, conversions, window_days)


def _candidates(session: Session, events: Range, conversions: Range) -> list[tuple[list[str], Any]]:
    """(columns, SELECT) of each source of new values."""
    found: list[tuple[list[str], Any]] = []
    if events[1] > events[0]:
        in_range = [Event.id > events[0], Event.id <= events[1]]
        found.append((["message_id", *FLAGS], select(
            Event.message_id, *flag_values(session).values())
            .where(*in_range, Event.message_id.is_not(None), Event.type.in_(FLAG_TYPES)).group_by(Event.message_id)))
        found += [_firsts(kind, in_range) for kind in ("lead", "stop")]
    if conversions[1] > conversions[0]:
        table, _ = responses("conversion")
        found.append(_firsts("conversion", [table.id > conversions[0], table.id <= conversions[1]]))
    return found


def _firsts(kind: str, in_range: list[Any]) -> tuple[list[str], Any]:
    """Per cached message: the earliest new response of its contact at or after the send."""
    table, conditions = responses(kind)
    only_sms = [STATS.c.channel == "sms"] if kind == "stop" else []
    query = (select(STATS.c.message_id, func.min(table.occurred_at))
             .join(table, and_(table.contact_id == STATS.c.contact_id, table.occurred_at >= STATS.c.sent_at))
             .where(*only_sms, *conditions, *in_range).group_by(STATS.c.message_id))
    return ["message_id", FIRSTS[kind]], query


def _stage_changes(session: Session, candidates: Any, diffs: Any) -> None:
    """The cached rows the candidates change, with their key, old and new values."""
    merged = select(candidates.c.message_id, *(func.max(func.coalesce(candidates.c[name], 0)).label(name)
                                               for name in FLAGS),
                    *(func.min(candidates.c[name]).label(name) for name in FIRSTS.values())) \
        .group_by(candidates.c.message_id).subquery("merged")
    bigger, smaller = greatest(session), least(session)
    old = {name: STATS.c[name] for name in (*FLAGS, *FIRSTS.values())}
    new = {name: bigger(old[name], merged.c[name]) for name in FLAGS}
    new |= {name: case((merged.c[name].is_(None), old[name]), (old[name].is_(None), merged.c[name]),
                       else_=smaller(old[name], merged.c[name])) for name in FIRSTS.values()}
    changed = or_(*(merged.c[name] > old[name] for name in FLAGS),
                  *(and_(merged.c[name].is_not(None), or_(old[name].is_(None), merged.c[name] < old[name]))
                    for name in FIRSTS.values()))
    keys = day_keys(session, STATS)
    columns = ["message_id", *DAY_KEYS, "sent_at"]
    values = [STATS.c.message_id, *(keys[name] for name in DAY_KEYS), STATS.c.sent_at]
    for name in (*FLAGS, *FIRSTS.values()):
        columns += ["old_" + name, "new_" + name]
        values += [old[name], new[name]]
    session.execute(insert(diffs).from_select(columns, select(*values).select_from(STATS).join(
        merged, merged.c.message_id == STATS.c.message_id).where(changed)))


def _write(session: Session, diffs: Any) -> None:
    session.execute(
        update(MessageStat).where(MessageStat.message_id == diffs.c.message_id)
        .values({name: diffs.c["new_" + name] for name in (*FLAGS, *FIRSTS.values())}),
        execution_options={"synchronize_session": False})
