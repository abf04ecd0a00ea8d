"""Bench: segment count and refresh (5 conditions, 2 behavioural) on N contacts / M events, SQLite and PostgreSQL.

    .venv/bin/python bench/segments.py [--contacts 1000000] [--events 10000000] [--db sqlite,postgresql] [--reuse]

Data is generated in SQL (recursive CTE on SQLite, generate_series on PostgreSQL), per-contact stats are built
from the events as the timeline keeps them. Prints count, first materialisation and incremental refresh times,
each with its ratio to a floor timed in the same run: for the count, the best of several hand-written SQL
statements for the same question; for a refresh, the same work (materialise, diff, entered/exited events and
their stats, memberships, size) written by hand in SQL around that best statement. The machine load is printed.
Budgets (the 5-condition definition): <= 2 s PostgreSQL, <= 5 s SQLite; `--broad` also measures a definition
that matches about a third of the contacts, to show how refresh scales with the number of members.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import clock  # noqa: E402
from core.db import make_engine, session_factory  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import Base  # noqa: E402
from segments.refresh import refresh_segment  # noqa: E402
from segments.service import count, create_segment  # noqa: E402

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DEFINITION = {"name": "bench", "match": "all", "conditions": [
    {"field": "country", "op": "eq", "value": "FR"},
    {"lifecycle_stage": ["lead", "mql"]},
    {"field": "attributes.industry", "op": "eq", "value": "software"},
    {"event": "email.clicked", "within": "90d", "count": {"gte": 2}},
    {"event": "conversion", "within": "90d", "count": {"eq": 0}},
]}
BROAD = {"name": "bench-broad", "match": "all", "conditions": [  # a win-back audience: about a third of contacts
    {"field": "country", "op": "in", "value": ["FR", "BE", "ES"]},
    {"lifecycle_stage": ["lead", "mql", "customer"]},
    {"field": "score", "op": "gte", "value": 20},
    {"event": "email.opened", "within": "180d", "count": {"eq": 0}},
    {"event": "conversion", "within": "30d", "count": {"eq": 0}},
]}
EVENT_TYPES = ("CASE WHEN k < 40 THEN 'email.delivered' WHEN k < 70 THEN 'email.opened' WHEN k < 80 THEN "
               "'email.clicked' WHEN k < 95 THEN 'page.visited' WHEN k < 98 THEN 'form.submitted' "
               "ELSE 'conversion' END")
CONTACT_COLUMNS = ("id, email, country, lifecycle_stage, score, attributes, email_status, sms_status, mail_status, "
                   "timezone, created_at, updated_at")


def _contacts_sql(dialect: str) -> str:
    country = "CASE i % 5 WHEN 0 THEN 'FR' WHEN 1 THEN 'FR' WHEN 2 THEN 'DE' WHEN 3 THEN 'BE' ELSE 'ES' END"
    stage = "CASE (i / 5) % 4 WHEN 0 THEN 'subscriber' WHEN 1 THEN 'lead' WHEN 2 THEN 'mql' ELSE 'customer' END"
    industry = "CASE (i * 7) % 3 WHEN 0 THEN 'software' WHEN 1 THEN 'retail' ELSE 'health' END"
    if dialect == "sqlite":
        return f"""INSERT INTO contacts ({CONTACT_COLUMNS})
          WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < :n)
          SELECT i, 'c' || i || '@bench.test', {country}, {stage}, (i * 7919) % 101,
                 json_object('industry', {industry}, 'employees', (i * 31) % 5000), 'valid', 'unknown', 'unknown',
                 'Europe/Paris', datetime(:now, '-' || (i % 730) || ' days'), :now FROM seq"""
    return f"""INSERT INTO contacts ({CONTACT_COLUMNS})
      SELECT i, 'c' || i || '@bench.test', {country}, {stage}, (i * 7919) % 101,
             jsonb_build_object('industry', {industry}, 'employees', (i * 31) % 5000), 'valid', 'unknown', 'unknown',
             'Europe/Paris', CAST(:now AS timestamptz) - (i % 730) * interval '1 day', CAST(:now AS timestamptz)
      FROM generate_series(CAST(1 AS bigint), :n) AS i"""


def _events_sql(dialect: str) -> str:
    columns = "contact_id, type, occurred_at, properties, dedupe_key, created_at"
    if dialect == "sqlite":
        return f"""INSERT INTO events ({columns})
          WITH RECURSIVE seq(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM seq WHERE j < :m),
               raw AS (SELECT j, (j * 2654435761) % 100 AS k FROM seq)
          SELECT 1 + (j * 48271) % :n, {EVENT_TYPES}, datetime(:now, '-' || ((j * 7919) % 31536000) || ' seconds'),
                 '{{}}', 'b' || j, :now FROM raw"""
    return f"""INSERT INTO events ({columns})
      SELECT 1 + (j::bigint * 48271) % :n, {EVENT_TYPES},
             CAST(:now AS timestamptz) - ((j::bigint * 7919) % 31536000) * interval '1 second', '{{}}'::jsonb,
             'b' || j, CAST(:now AS timestamptz)
      FROM (SELECT j, (j::bigint * 2654435761) % 100 AS k FROM generate_series(1, :m) AS j) AS raw"""


STATS_SQL = """INSERT INTO contact_event_stats (contact_id, type, count, first_at, last_at, total)
  SELECT contact_id, type, COUNT(*), MIN(occurred_at), MAX(occurred_at), 0 FROM events GROUP BY contact_id, type"""


def _fresh_engine(dialect: str, reuse: bool) -> Engine:
    if dialect == "sqlite":
        path = Path("/tmp/relance-bench-segments.sqlite")
        if not reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return make_engine(f"sqlite:///{path}")
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = 'relance_bench_segments'")).first()
        if not (reuse and exists):
            connection.execute(text("DROP DATABASE IF EXISTS relance_bench_segments WITH (FORCE)"))
            connection.execute(text("CREATE DATABASE relance_bench_segments"))
    admin.dispose()
    return make_engine("postgresql+psycopg://postgres@127.0.0.1:5432/relance_bench_segments")


def generate(engine: Engine, contacts: int, events: int) -> None:
    """Schema, then contacts, events and stats in SQL (foreign-key checks off while loading)."""
    upgrade(engine)
    dialect = engine.dialect.name
    now = NOW.replace(tzinfo=None).isoformat(sep=" ") if dialect == "sqlite" else NOW.isoformat()
    with engine.begin() as connection:
        if connection.execute(text("SELECT COUNT(*) FROM contacts")).scalar() == contacts:
            print("  reusing generated data")
            return
        if dialect == "postgresql":
            connection.execute(text("SET session_replication_role = replica"))
            connection.execute(text("SET maintenance_work_mem = '512MB'"))
        else:
            connection.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
            connection.exec_driver_sql("PRAGMA cache_size = -1000000")
        indexes = list(Base.metadata.tables["events"].indexes)
        for index in indexes:  # bulk load first, index after (as a restore would)
            index.drop(connection)
        for label, sql, params in (("contacts", _contacts_sql(dialect), {"n": contacts, "now": now}),
                                   ("events", _events_sql(dialect), {"n": contacts, "m": events, "now": now}),
                                   ("event indexes", "", {}),
                                   ("contact_event_stats", STATS_SQL, {})):
            started = time.perf_counter()
            if sql:
                connection.execute(text(sql), params)
            else:
                for index in indexes:
                    index.create(connection)
            print(f"  generated {label} in {time.perf_counter() - started:.1f} s")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))


def best_of(runs: int, work: Callable[[], Any]) -> tuple[float, Any]:
    """Best wall time of `runs` runs (warm cache) and the last result."""
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return min(times), result


def hand_written(dialect: str) -> list[str]:
    """Hand-written SQL for the same question: the floor is the fastest of them."""
    base = ("SELECT COUNT(*) FROM contacts c WHERE c.erased_at IS NULL AND c.country = 'FR' "
            "AND c.lifecycle_stage IN ('lead', 'mql') AND {industry} = 'software' AND {clicks} AND {no_conversion}")
    industry = "json_extract(c.attributes, '$.industry')" if dialect == "sqlite" else "c.attributes ->> 'industry'"
    clicks_in = ("c.id IN (SELECT contact_id FROM events WHERE type = 'email.clicked' AND occurred_at >= :since "
                 "GROUP BY contact_id HAVING COUNT(*) >= 2)")
    clicks_correlated = ("(SELECT COUNT(*) FROM events e WHERE e.contact_id = c.id AND e.type = 'email.clicked' "
                         "AND e.occurred_at >= :since) >= 2")
    no_conversion_stats = ("NOT EXISTS (SELECT 1 FROM contact_event_stats s WHERE s.contact_id = c.id "
                           "AND s.type = 'conversion' AND s.last_at >= :since)")
    no_conversion_events = ("NOT EXISTS (SELECT 1 FROM events e WHERE e.contact_id = c.id AND e.type = 'conversion' "
                            "AND e.occurred_at >= :since)")
    return [base.format(industry=industry, clicks=clicks, no_conversion=no_conversion)
            for clicks in (clicks_in, clicks_correlated)
            for no_conversion in (no_conversion_stats, no_conversion_events)]


def _hand_refresh(session: Any, dialect: str, segment_id: int, members_sql: str, since: Any) -> float:
    """The refresh written by hand: stage the members, exited events + delete, entered events + insert, stats of
    the new events, size. Returns the wall time."""
    now = NOW.replace(tzinfo=None).isoformat(sep=" ") if dialect == "sqlite" else NOW
    stamp = f"hand-{time.time_ns()}-"
    as_text = "" if dialect == "sqlite" else "::text"
    no_properties = "'{{}}'" if dialect == "sqlite" else "'{{}}'::jsonb"  # braces doubled: the SQL is .format()ted
    member = "EXISTS (SELECT 1 FROM segment_memberships m WHERE m.segment_id = :sid AND m.contact_id = {})"
    staged = "EXISTS (SELECT 1 FROM hand_stage h WHERE h.contact_id = {})"
    event = ("INSERT INTO events (contact_id, type, occurred_at, properties, dedupe_key, created_at) "
             f"SELECT {{id}}, :kind, :now, {no_properties}, :stamp || {{id}}{as_text} || :suffix, :now "
             "FROM {source} WHERE {where} ORDER BY {id}")
    members = members_sql.replace("SELECT COUNT(*)", "SELECT c.id AS contact_id", 1)  # the outer SELECT only
    statements = [
        ("DROP TABLE IF EXISTS hand_stage", {}),
        (f"CREATE TEMPORARY TABLE hand_stage AS {members}", {"since": since}),
        ("CREATE UNIQUE INDEX hand_stage_contact ON hand_stage (contact_id)", {}),
        ("SELECT MAX(id) FROM events", {"bound": "before"}),
        (event.format(id="s.contact_id", source="segment_memberships s",
                      where="s.segment_id = :sid AND NOT " + staged.format("s.contact_id")),
         {"kind": "segment.exited", "suffix": ":exited"}),
        ("DELETE FROM segment_memberships WHERE segment_id = :sid AND NOT "
         + staged.format("segment_memberships.contact_id"), {}),  # qualified: hand_stage has a contact_id too
        (event.format(id="h.contact_id", source="hand_stage h", where="NOT " + member.format("h.contact_id")),
         {"kind": "segment.entered", "suffix": ":entered"}),
        ("INSERT INTO segment_memberships (segment_id, contact_id, entered_at) SELECT :sid, h.contact_id, :now "
         "FROM hand_stage h WHERE NOT " + member.format("h.contact_id") + " ORDER BY h.contact_id", {}),
        ("SELECT MAX(id) FROM events", {"bound": "after"}),
        ("INSERT INTO contact_event_stats (contact_id, type, count, first_at, last_at, total) "
         "SELECT contact_id, type, COUNT(*), MIN(occurred_at), MAX(occurred_at), 0 FROM events "
         "WHERE id > :before AND id <= :after AND dedupe_key LIKE :pattern GROUP BY contact_id, type "
         "ON CONFLICT (contact_id, type) DO UPDATE SET count = contact_event_stats.count + excluded.count, "
         "last_at = excluded.last_at", {}),
        ("UPDATE segments SET size = (SELECT COUNT(*) FROM segment_memberships WHERE segment_id = :sid) "
         "WHERE id = :sid", {}),
        ("DROP TABLE hand_stage", {}),
    ]
    started = time.perf_counter()
    bounds = {"before": 0, "after": 0}
    for sql, extra in statements:
        params = {"sid": segment_id, "now": now, "stamp": stamp, "pattern": f"{stamp}%", **bounds, **extra}
        result = session.execute(text(sql), {key: value for key, value in params.items() if f":{key}" in sql})
        if "bound" in extra:  # a closed id range keeps SQLite on the rowid, as contacts.timeline does
            bounds[extra["bound"]] = result.scalar() or 0
    elapsed = time.perf_counter() - started  # the commit is not timed, as for Relance's refresh
    session.commit()
    return elapsed


def _floors(session: Any, dialect: str, since_param: Any, runs: int) -> tuple[list[float], int, str]:
    """Times of each hand-written count statement, the count they agree on, and the fastest statement."""
    floors: list[float] = []
    counts = []
    statements = hand_written(dialect)
    for sql in statements:
        def run_sql(statement: Any = text(sql)) -> Any:
            return session.execute(statement, {"since": since_param}).scalar()

        elapsed, found = best_of(runs, run_sql)
        floors.append(elapsed)
        counts.append(found)
    assert len(set(counts)) == 1, counts
    return floors, counts[0], statements[floors.index(min(floors))]


def measure(engine: Engine, runs: int, definition: dict[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    """Times of count, first refresh and incremental refresh, and (for DEFINITION) of their hand-written floors."""
    dialect = engine.dialect.name
    since = NOW - timedelta(days=90)
    since_param = since.replace(tzinfo=None).isoformat(sep=" ") if dialect == "sqlite" else since
    clock.freeze(NOW)
    session = session_factory(engine)()
    if dialect == "postgresql":  # what count/refresh do for their transaction; the floor gets the same
        session.execute(text("SET jit = off"))
    with_floor = definition is DEFINITION
    floors: dict[str, float] = {}
    best_sql, floor_count = "", None
    if with_floor:
        counted, floor_count, best_sql = _floors(session, dialect, since_param, runs)
        floors["count"] = min(counted)
        print(f"  hand-written count statements: {', '.join(f'{value:.3f}' for value in counted)} s")
    count_time, matches = best_of(runs, lambda: count(session, definition))
    assert floor_count is None or matches == floor_count, (matches, floor_count)
    name = definition["name"]
    session.execute(text("DELETE FROM segments WHERE name IN (:name, :hand)"), {"name": name, "hand": f"{name}-hand"})
    create_segment(session, name, definition)
    hand_id = create_segment(session, f"{name}-hand", definition).id
    session.commit()
    # Relance first, the hand-written floor after it on a cache Relance warmed: the ratios err against Relance.
    first, result = best_of(1, lambda: refresh_segment(session, name))
    session.commit()
    if with_floor:
        floors["first_refresh"] = _hand_refresh(session, dialect, hand_id, best_sql, since_param)
    _churn(session, dialect)
    incremental, second = best_of(1, lambda: refresh_segment(session, name))
    session.commit()
    if with_floor:
        floors["incremental_refresh"] = _hand_refresh(session, dialect, hand_id, best_sql, since_param)
    if with_floor:
        hand_size = session.execute(text("SELECT size FROM segments WHERE id = :id"), {"id": hand_id}).scalar()
        assert hand_size == second.size, (hand_size, second.size)
    session.close()
    clock.reset()
    print(f"  {name}: members {result.size:,} (count {matches:,}); incremental: +{second.entered:,} "
          f"-{second.exited:,}")
    return {"count": count_time, "first_refresh": first, "incremental_refresh": incremental}, floors


def _churn(session: Any, dialect: str) -> None:
    """About 1 % of contacts change: 0.5 % swap France and Germany, 1 % get two new clicks, counted in their
    stats as the timeline would (a different slice on every run, so --reuse still measures real entries and
    exits)."""
    run = time.time_ns() // 1000  # microseconds: two churns never share dedupe keys
    session.execute(text("UPDATE contacts SET country = CASE country WHEN 'FR' THEN 'DE' WHEN 'DE' THEN 'FR' "
                         "ELSE country END WHERE id % 211 = :slice"), {"slice": run % 211})
    total = session.scalar(select(func.count()).select_from(text("contacts")))
    insert = ("INSERT INTO events (contact_id, type, occurred_at, properties, dedupe_key, created_at) "
              "SELECT id, 'email.clicked', :at, '{}', 'churn-' || id || '-' || :n, :at FROM contacts "
              "WHERE id % 97 = :slice")
    at = NOW.replace(tzinfo=None).isoformat(sep=" ") if dialect == "sqlite" else NOW
    for n in (1, 2):
        session.execute(text(insert), {"at": at, "n": f"{run}-{n}", "slice": run % 97})
    session.execute(text(
        "INSERT INTO contact_event_stats (contact_id, type, count, first_at, last_at, total) "
        "SELECT id, 'email.clicked', 2, :at, :at, 0 FROM contacts WHERE id % 97 = :slice "
        "ON CONFLICT (contact_id, type) DO UPDATE SET count = contact_event_stats.count + 2, last_at = excluded.last_at"
    ), {"at": at, "slice": run % 97})
    session.commit()
    print(f"  churn: {total // 211:,} contacts swapped France/Germany, {2 * (total // 97):,} new clicks")


def _holds(engine: Engine, contacts: int) -> bool:
    """Whether the database already holds exactly the generated contacts (an empty one holds nothing)."""
    with engine.connect() as connection:
        if not engine.dialect.has_table(connection, "contacts"):
            return False
        return connection.execute(text("SELECT COUNT(*) FROM contacts")).scalar() == contacts


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}, {os.cpu_count()} cores"


def report(figures: dict[str, float], floors: dict[str, float], budget: float | None) -> None:
    """One line per measure: time, ratio to its hand-written floor, verdict against the budget."""
    for key, value in figures.items():
        floor = floors.get(key)
        ratio = f"x{value / floor:5.2f} hand-written ({floor:.3f} s)" if floor else ""
        verdict = "" if budget is None else f"budget {budget:.0f} s {'OK' if value <= budget else 'OVER BUDGET'}"
        print(f"  {key:<20} {value:7.3f} s   {ratio:<32} {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="Keep generated data from a previous run.")
    parser.add_argument("--broad", action="store_true", help="Also measure a definition matching a third of contacts.")
    args = parser.parse_args()
    budgets = {"sqlite": 5.0, "postgresql": 2.0}
    for dialect in args.db.split(","):
        print(f"{dialect}: {args.contacts:,} contacts, {args.events:,} events ({_load()})", flush=True)
        engine = _fresh_engine(dialect, args.reuse)
        if args.reuse and not _holds(engine, args.contacts):  # data of another size: start again
            engine.dispose()
            engine = _fresh_engine(dialect, False)
        generate(engine, args.contacts, args.events)
        print(f"  measuring ({_load()})", flush=True)
        figures, floors = measure(engine, args.runs, DEFINITION)
        report(figures, floors, budgets[dialect])
        if args.broad:
            figures, _ = measure(engine, args.runs, BROAD)
            report(figures, {}, None)
        print(f"  done ({_load()})", flush=True)
        engine.dispose()


if __name__ == "__main__":
    main()
