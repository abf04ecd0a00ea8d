"""SQL helpers shared by the feedback modules: `= ANY(array)` lookups and the bulk timeline writer.

Feedback arrives in tens of thousands of events a minute. On PostgreSQL the events and their per-contact
stats are written with COPY into a temporary table, then one INSERT … SELECT … ON CONFLICT: a round trip
per statement instead of one per row. SQLite takes multi-row VALUES (contacts.fastsql), already fast there.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from contacts.fastsql import Bulk
from contacts.timeline import NewEvent
from core import clock

EVENT_COLUMNS = ("contact_id", "type", "occurred_at", "campaign_id", "message_id", "properties", "dedupe_key",
                 "created_at")
STAT_COLUMNS = ("contact_id", "type", "count", "first_at", "last_at", "total")
_temp_names = itertools.count()


def member(session: Session, column: Any, values: Sequence[Any]) -> Any:
    """`column IN values`; on PostgreSQL `= ANY(array)`: one parameter instead of thousands to bind and parse."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def write_events(session: Session, events: Sequence[NewEvent], *, stats: bool = True) -> int:
    """Insert the events whose dedupe_key is new and, when `stats`, bump their contacts' stats; returns how many
    were new. Same effect as `contacts.timeline.record_events` (which `stats=False` events must not pass through:
    machine opens and clicks stay out of the engagement stats)."""
    unique = list({event.dedupe_key: event for event in events}.values())
    if not unique:
        return 0
    session.flush()
    now = clock.now()
    rows = [(event.contact_id, event.type, event.occurred_at, event.campaign_id, event.message_id,
             json.dumps(event.properties, ensure_ascii=False, separators=(",", ":"), default=str), event.dedupe_key,
             now) for event in unique]
    postgres = session.get_bind().dialect.name == "postgresql"
    suffix = "ON CONFLICT (dedupe_key) DO NOTHING"
    if postgres:
        inserted = copy_insert(session, "events", EVENT_COLUMNS, rows, suffix=suffix, returning="dedupe_key")
    else:
        inserted = Bulk(session).insert("events", EVENT_COLUMNS, rows, suffix=suffix, returning="dedupe_key")
    new_keys = {key for (key,) in inserted}
    if stats:
        _bump_stats(session, [event for event in unique if event.dedupe_key in new_keys], postgres)
    return len(new_keys)


def _bump_stats(session: Session, events: Sequence[NewEvent], postgres: bool) -> None:
    totals: dict[tuple[int, str], list[Any]] = {}
    for event in events:
        if event.contact_id is None:
            continue
        at = clock.utc(event.occurred_at)
        entry = totals.get((event.contact_id, event.type))
        if entry is None:
            totals[(event.contact_id, event.type)] = [event.contact_id, event.type, 1, at, at, Decimal(event.value)]
        else:
            entry[2] += 1
            entry[3], entry[4], entry[5] = min(entry[3], at), max(entry[4], at), entry[5] + event.value
    if not totals:
        return
    table = "contact_event_stats"
    smallest, largest = ("least", "greatest") if postgres else ("min", "max")
    suffix = (f"ON CONFLICT (contact_id, type) DO UPDATE SET count = {table}.count + excluded.count, "
              f"first_at = {smallest}({table}.first_at, excluded.first_at), "
              f"last_at = {largest}({table}.last_at, excluded.last_at), total = {table}.total + excluded.total")
    rows = [totals[key] for key in sorted(totals)]  # a stable order avoids deadlocks between writers
    if postgres:
        copy_insert(session, table, STAT_COLUMNS, rows, suffix=suffix)
    else:
        Bulk(session).insert(table, STAT_COLUMNS, rows, suffix=suffix)


def copy_insert(session: Session, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
                suffix: str = "", returning: str = "") -> list[tuple[Any, ...]]:
    """PostgreSQL: COPY `rows` into a temporary table shaped like `table`'s `columns`, then one INSERT … SELECT
    (with `suffix`, e.g. an ON CONFLICT clause); returns the RETURNING rows. JSON values are passed as text."""
    names = ", ".join(columns)
    temp = f"feedback_copy_{next(_temp_names)}"
    cursor: Any = session.connection().connection.cursor()
    try:
        cursor.execute(f"CREATE TEMPORARY TABLE {temp} ON COMMIT DROP AS SELECT {names} FROM {table} WITH NO DATA")
        with cursor.copy(f"COPY {temp} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        tail = f" RETURNING {returning}" if returning else ""
        cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {temp} {suffix}{tail}")
        returned = [tuple(row) for row in cursor.fetchall()] if returning else []
        cursor.execute(f"DROP TABLE {temp}")
    finally:
        cursor.close()
    return returned
