"""The timeline's one writer: events inserted once each (by dedupe key) with their per-contact stats kept in step,
from Python rows or from a SELECT; and the timeline read back.

Every package that records something about a contact calls `record_events` or `record_events_from_select`;
nothing else writes `events` or `contact_event_stats`. The stats are the columns of `AGGREGATES`: adding one is
one entry there (and its column on `ContactEventStat`).

Fast paths: on PostgreSQL Python rows go through COPY into a temporary table and one INSERT … SELECT, and a
SELECT's new events bump the stats in the same statement (a data-modifying CTE); SQLite takes multi-row VALUES and
`RETURNING`. Either way the stats count exactly the events this call inserted, never another transaction's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, func, literal, literal_column, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnClause

from core import clock
from core.bulk import Bulk
from core.dialect import dialect_insert, greatest, is_sqlite, least
from core.models import ContactEventStat, Event

CHUNK = 5000  # events per statement set


@dataclass(frozen=True)
class NewEvent:
    """An event to record; `dedupe_key` must identify the real-world occurrence (e.g. provider event id)."""

    type: str
    dedupe_key: str
    contact_id: int | None
    occurred_at: datetime
    campaign_id: int | None = None
    message_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    value: Decimal = Decimal(0)  # summed into the contact's stats (conversion amount, ...)


@dataclass(frozen=True)
class Aggregate:
    """One column of `contact_event_stats`: what a new event adds to it and how two contributions combine."""

    column: str
    combine: Literal["sum", "min", "max"]
    of_event: Callable[[NewEvent], Any]  # one event's contribution (rows written from Python)
    of_rows: Callable[[ColumnClause[Any]], ColumnElement[Any]]  # the aggregate over new rows' occurred_at (a SELECT)


AGGREGATES: tuple[Aggregate, ...] = (
    Aggregate("count", "sum", lambda event: 1, lambda occurred_at: func.count()),
    Aggregate("first_at", "min", lambda event: clock.utc(event.occurred_at), func.min),
    Aggregate("last_at", "max", lambda event: clock.utc(event.occurred_at), func.max),
    Aggregate("total", "sum", lambda event: Decimal(event.value), lambda occurred_at: literal(0)),
)
STAT_COLUMNS = ("contact_id", "type", *(aggregate.column for aggregate in AGGREGATES))
EVENT_COLUMNS = ("contact_id", "type", "occurred_at", "campaign_id", "message_id", "properties", "dedupe_key",
                 "created_at")
_STATS = "contact_event_stats"


def record_events(session: Session, events: Iterable[NewEvent], *, stats: bool = True) -> int:
    """Insert the events whose dedupe key is new and, when `stats`, bump their contacts' stats; returns how many
    were new. Machine opens and clicks pass `stats=False`: they stay out of the engagement stats."""
    inserted = 0
    batch: list[NewEvent] = []
    for item in events:
        batch.append(item)
        if len(batch) >= CHUNK:
            inserted += _record_chunk(session, batch, stats)
            batch = []
    if batch:
        inserted += _record_chunk(session, batch, stats)
    return inserted


def _record_chunk(session: Session, events: Sequence[NewEvent], stats: bool) -> int:
    unique = {item.dedupe_key: item for item in events}
    if not unique:
        return 0
    session.flush()  # pending ORM objects (e.g. a new contact) must exist before their events
    bulk = Bulk(session)
    now = clock.now()
    rows = [(item.contact_id, item.type, item.occurred_at, item.campaign_id, item.message_id, item.properties,
             item.dedupe_key, now) for item in unique.values()]
    suffix = "ON CONFLICT (dedupe_key) DO NOTHING"
    if bulk.sqlite:
        returned = bulk.insert("events", EVENT_COLUMNS, rows, suffix=suffix, returning="dedupe_key")
    else:
        returned = bulk.copy_insert("events", EVENT_COLUMNS, rows, suffix=suffix, returning="dedupe_key")
    new_keys = {key for (key,) in returned}
    if stats:
        _add_stats(session, bulk, _fold(unique[key] for key in new_keys))
    return len(new_keys)


def _fold(events: Iterable[NewEvent]) -> dict[tuple[int, str], list[Any]]:
    """The stats rows (STAT_COLUMNS) of `events`, one per contact and type."""
    totals: dict[tuple[int, str], list[Any]] = {}
    for item in events:
        if item.contact_id is None:
            continue
        values = [aggregate.of_event(item) for aggregate in AGGREGATES]
        entry = totals.get((item.contact_id, item.type))
        if entry is None:
            totals[(item.contact_id, item.type)] = [item.contact_id, item.type, *values]
            continue
        for position, (aggregate, value) in enumerate(zip(AGGREGATES, values, strict=True), start=2):
            entry[position] = _COMBINE_IN_PYTHON[aggregate.combine](entry[position], value)
    return totals


_COMBINE_IN_PYTHON: dict[str, Callable[[Any, Any], Any]] = {"sum": lambda a, b: a + b, "min": min, "max": max}


def _add_stats(session: Session, bulk: Bulk, totals: dict[tuple[int, str], list[Any]]) -> None:
    if not totals:
        return
    rows = [totals[key] for key in sorted(totals)]  # a stable order avoids deadlocks between writers
    suffix = _stats_upsert_sql(bulk.sqlite)
    if bulk.sqlite:
        bulk.insert(_STATS, STAT_COLUMNS, rows, suffix=suffix)
    else:
        bulk.copy_insert(_STATS, STAT_COLUMNS, rows, suffix=suffix)


def _stats_upsert_sql(sqlite: bool) -> str:
    """`ON CONFLICT … DO UPDATE` that adds a new stats row into an existing one, column by column."""
    functions = {"sum": None, "min": "min" if sqlite else "least", "max": "max" if sqlite else "greatest"}
    sets = []
    for aggregate in AGGREGATES:
        name, function = aggregate.column, functions[aggregate.combine]
        combined = (f"{_STATS}.{name} + excluded.{name}" if function is None
                    else f"{function}({_STATS}.{name}, excluded.{name})")
        sets.append(f"{name} = {combined}")
    return f"ON CONFLICT (contact_id, type) DO UPDATE SET {', '.join(sets)}"


def _stats_upsert(session: Session, statement: Any) -> Any:
    """The same upsert on a SQLAlchemy `INSERT INTO contact_event_stats … SELECT`."""
    table = ContactEventStat.__table__.c
    combine: dict[str, Callable[[Any, Any], Any]] = {
        "sum": lambda current, new: current + new, "min": least(session), "max": greatest(session)}
    return statement.on_conflict_do_update(
        index_elements=["contact_id", "type"],
        set_={name: combine[aggregate.combine](table[name], statement.excluded[name])
              for aggregate in AGGREGATES for name in (aggregate.column,)},
    )


def record_events_from_select(session: Session, source: Select[Any], *, stats: bool = True) -> int:
    """Set-based `record_events`: INSERT … SELECT the events of `source` (columns labelled like Event's), skipping
    known dedupe keys, and bump the stats of exactly the rows inserted; returns how many were new."""
    columns = [column.key for column in source.selected_columns]
    insert = dialect_insert(session)(Event.__table__).from_select(columns, source)
    insert = insert.on_conflict_do_nothing(index_elements=["dedupe_key"])
    if not stats:
        return int(session.connection().execute(insert, execution_options={"preserve_rowcount": True}).rowcount or 0)
    new = insert.returning(Event.contact_id, Event.type, Event.occurred_at)
    if is_sqlite(session):  # no data-modifying CTE in SQLite: the new rows come back and are folded here
        rows = session.connection().execute(new).all()
        _add_stats(session, Bulk(session), _fold(
            NewEvent(type, "", contact_id, occurred_at) for contact_id, type, occurred_at in rows))
        return len(rows)
    inserted = new.cte("new_events")
    aggregates = [aggregate.of_rows(inserted.c.occurred_at).label(aggregate.column) for aggregate in AGGREGATES]
    grouped = (select(inserted.c.contact_id, inserted.c.type, *aggregates)
               .where(inserted.c.contact_id.is_not(None))
               .group_by(inserted.c.contact_id, inserted.c.type)
               .order_by(inserted.c.contact_id, inserted.c.type))
    bump = _stats_upsert(session, dialect_insert(session)(ContactEventStat.__table__)
                         .from_select(list(STAT_COLUMNS), grouped)).returning(literal_column("1"))
    counted = select(func.count()).select_from(inserted).add_cte(bump.cte("bumped_stats"))
    return int(session.connection().execute(counted).scalar_one())


def move_stats(session: Session, *, to: int, source: int) -> None:
    """Add contact `source`'s stats into contact `to`'s (a merge) and remove them from `source`."""
    names = ", ".join(STAT_COLUMNS[2:])
    session.execute(text(
        f"INSERT INTO {_STATS} ({', '.join(STAT_COLUMNS)}) SELECT :to, type, {names} FROM {_STATS} "
        f"WHERE contact_id = :source {_stats_upsert_sql(is_sqlite(session))}"
    ), {"to": to, "source": source})
    session.execute(text(f"DELETE FROM {_STATS} WHERE contact_id = :source"), {"source": source})


def timeline(session: Session, contact_id: int, *, limit: int = 100) -> list[Event]:
    """A contact's events, newest first."""
    query = (
        select(Event)
        .where(Event.contact_id == contact_id)
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))
