"""Bench: every dashboard page's queries at 1,000,000 contacts and 10,000,000 events (budget ≤ 2 s per page).

    .venv/bin/python bench/dashboard.py [--contacts 1000000] [--events 10000000] [--db postgresql,sqlite] [--reuse]
                                        [--rebuild-cache]

Contacts and the bulk of the events come from bench/segments.py's generator; this bench adds 20 campaigns
(1,000,000 ledger rows with A/B arms, holdouts, costs), their delivery / open / click / bounce events (counted in
the 10,000,000), 100,000 conversions in two currencies, segments with size history and model scores. It then
times the loaders of each page (dashboard/loaders.py, exactly what the pages call, cache cold) and prints the
ratio to a floor measured in the same run: a bare COUNT(*) over the events table (and a GROUP BY over it; the
ledger scan printed with them is what summing costs from the ledger would cost). The report caches' first build
is timed when they are made (a fresh database, changed cache tables, or --rebuild-cache).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, create_engine, text  # noqa: E402

from core import clock  # noqa: E402
from core.db import make_engine, session_scope  # noqa: E402
from core.settings import Settings  # noqa: E402
from dashboard import loaders  # noqa: E402
from dashboard.scheduling import templates_by_channel  # noqa: E402
from reports.caches.engagement import rebuild  # noqa: E402
from segments.service import list_segments  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_segments", Path(__file__).with_name("segments.py"))
assert _spec is not None and _spec.loader is not None
generator = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generator)

NOW = generator.NOW
CAMPAIGNS = 20
BUDGET = 2.0
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SQLITE_PATH = Path("/tmp/relance-bench-dashboard.sqlite")


def fresh_engine(dialect: str, reuse: bool) -> Engine:
    """An empty (or, with --reuse, the previous) bench database of its own."""
    if dialect == "sqlite":
        if not reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{SQLITE_PATH}{suffix}").unlink(missing_ok=True)
        return make_engine(f"sqlite:///{SQLITE_PATH}")
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = 'relance_bench_dashboard'")).first()
        if not (reuse and exists):
            connection.execute(text("DROP DATABASE IF EXISTS relance_bench_dashboard WITH (FORCE)"))
            connection.execute(text("CREATE DATABASE relance_bench_dashboard"))
    admin.dispose()
    return make_engine(PG_ADMIN.rsplit("/", 1)[0] + "/relance_bench_dashboard")


def _series(dialect: str, name: str, count: str) -> str:
    """Rows 1..count as `name` (a recursive CTE on SQLite, generate_series on PostgreSQL)."""
    if dialect == "sqlite":
        return f"(WITH RECURSIVE s({name}) AS (SELECT 1 UNION ALL SELECT {name} + 1 FROM s WHERE {name} < {count}) " \
               f"SELECT {name} FROM s)"
    return f"(SELECT generate_series(CAST(1 AS bigint), {count}) AS {name})"


def _ago(dialect: str, seconds: str) -> str:
    if dialect == "sqlite":
        return f"datetime(:now, '-' || ({seconds}) || ' seconds')"
    return f"(CAST(:now AS timestamptz) - ({seconds}) * interval '1 second')"


def campaign_sql(dialect: str) -> list[str]:
    """Campaigns, arms, the ledger, fixed costs, a USD rate and 100,000 conversions, all in SQL."""
    false = "0" if dialect == "sqlite" else "false"
    channels = "CASE WHEN c % 4 = 0 THEN '[\"sms\"]' ELSE '[\"email\"]' END"
    channels = channels if dialect == "sqlite" else f"CAST({channels} AS jsonb)"
    start = _ago(dialect, "c * 432000")  # campaign c started c × 5 days ago
    return [
        f"""INSERT INTO campaigns (id, name, status, definition, channels, holdout, budget, spent, currency, utm,
              started_at, created_at, updated_at)
            SELECT c, 'bench-' || c, 'completed', '{{}}', {channels}, 0.05, 5000, 0, 'EUR', '{{}}', {start}, {start},
                   :now FROM {_series(dialect, 'c', str(CAMPAIGNS))} AS s""",
        f"""INSERT INTO variants (id, campaign_id, name, templates, weight, is_winner)
            SELECT 2 * c - 1 + arms.k, c, arms.v, '{{}}', 1, {false}
            FROM {_series(dialect, 'c', str(CAMPAIGNS))} AS s
            CROSS JOIN (SELECT 0 AS k, 'A' AS v UNION ALL SELECT 1, 'B') AS arms""",
        f"""INSERT INTO messages (id, campaign_id, contact_id, rotation, channel, variant_id, status, reason, provider,
              cost, parts, attempts, created_at, sent_at, updated_at)
            SELECT 'm' || k.id, k.c, k.id, 0, CASE WHEN k.c % 4 = 0 THEN 'sms' ELSE 'email' END,
                   CASE WHEN k.id % 100 < 8 THEN NULL ELSE 2 * k.c - 1 + k.id % 2 END,
                   CASE WHEN k.id % 100 < 5 THEN 'held_out' WHEN k.id % 100 < 8 THEN 'excluded'
                        WHEN k.id % 100 < 10 THEN 'bounced' ELSE 'delivered' END,
                   CASE WHEN k.id % 100 BETWEEN 5 AND 7 THEN 'no_consent' END,
                   CASE WHEN k.id % 100 >= 8 THEN CASE WHEN k.c % 4 = 0 THEN 'twilio' ELSE 'sendgrid' END END,
                   CASE WHEN k.id % 100 >= 8 THEN CASE WHEN k.c % 4 = 0 THEN 0.075 ELSE 0.0009 END END, 1, 1,
                   {_ago(dialect, 'k.c * 432000 + 3600')},
                   CASE WHEN k.id % 100 >= 8 THEN {_ago(dialect, 'k.c * 432000 - k.id % 7200')} END, :now
            FROM (SELECT id, 1 + id % {CAMPAIGNS} AS c FROM contacts) AS k""",
        """INSERT INTO costs (campaign_id, amount, currency, category, incurred_at)
            SELECT id, 250 + id * 10, 'EUR', 'creative', started_at FROM campaigns""",
        f"""INSERT INTO exchange_rates (currency, rate, valid_from)
            VALUES ('USD', 0.92, {_ago(dialect, '400 * 86400')})""",
        f"""INSERT INTO conversions (contact_id, amount, currency, occurred_at, kind, external_ref, campaign_id,
              properties, created_at)
            SELECT 1 + (j * 7919) % :contacts, 20 + (j * 37) % 480 + ((j * 13) % 100) / 100.0,
                   CASE WHEN j % 20 = 0 THEN 'USD' ELSE 'EUR' END, {_ago(dialect, '(j * 104729) % 12960000')},
                   'purchase', 'bench-' || j, NULL, '{{}}', :now FROM {_series(dialect, 'j', '100000')} AS s""",
    ]


def campaign_events_sql(dialect: str) -> str:
    """Responses to the sent messages: delivered / bounced, opens (some by machines), clicks, unsubscribes."""
    machine = "'{\"machine\": true}'" if dialect == "sqlite" else "'{\"machine\": true}'::jsonb"
    empty = "'{}'" if dialect == "sqlite" else "'{}'::jsonb"
    kinds = """SELECT 1 AS n, 'delivered' AS kind UNION ALL SELECT 2, 'opened' UNION ALL SELECT 3, 'clicked'
               UNION ALL SELECT 4, 'unsubscribed'"""
    return f"""INSERT INTO events (contact_id, type, occurred_at, campaign_id, message_id, properties, dedupe_key,
                 created_at)
      SELECT m.contact_id,
             CASE WHEN k.n = 1 AND m.status = 'bounced' THEN 'email.bounced'
                  WHEN k.n = 1 AND m.channel = 'sms' THEN 'sms.delivered' ELSE 'email.' || k.kind END,
             m.sent_at, m.campaign_id, m.id,
             CASE WHEN k.n = 2 AND m.contact_id % 50 < 8 THEN {machine} ELSE {empty} END,
             'ce-' || m.id || '-' || k.n, :now
      FROM messages m CROSS JOIN ({kinds}) AS k
      WHERE m.sent_at IS NOT NULL AND (k.n = 1 OR (m.status = 'delivered' AND m.channel = 'email' AND (
            (k.n = 2 AND m.contact_id % 50 < 20) OR (k.n = 3 AND m.contact_id % 50 < 6)
            OR (k.n = 4 AND m.contact_id % 1000 < 3))))"""


def audience_sql(dialect: str) -> list[str]:
    """Segments with 30 refreshes of history, a static one with members, model scores on every contact."""
    series = _series(dialect, "d", "30")
    return [
        """INSERT INTO segments (id, name, kind, definition, size, created_at, updated_at)
           SELECT s, 'segment-' || s, 'static', '{}', 0, :now, :now FROM (SELECT 1 AS s UNION ALL SELECT 2
           UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5) AS t""",
        "INSERT INTO segment_memberships (segment_id, contact_id, entered_at) "
        "SELECT 1 + id % 5, id, :now FROM contacts",
        "UPDATE segments SET size = (SELECT COUNT(*) FROM segment_memberships m WHERE m.segment_id = segments.id)",
        f"""INSERT INTO segment_snapshots (segment_id, measured_at, size, entered, exited)
            SELECT s.id, {_ago(dialect, 'd * 86400')}, s.size - d * 100, 120, 20
            FROM segments s CROSS JOIN {series} AS r""",
        "UPDATE contacts SET predicted_score = ((id * 37) % 1000) / 1000.0, "
        "grade = CASE WHEN (id * 37) % 1000 >= 800 THEN 'A' WHEN (id * 37) % 1000 >= 500 THEN 'B' ELSE 'C' END",
    ]


def generate(engine: Engine, contacts: int, events: int) -> None:
    """The segments bench's contacts + events, then this bench's campaigns, responses, money and audience."""
    dialect = engine.dialect.name
    now = NOW.replace(tzinfo=None).isoformat(sep=" ") if dialect == "sqlite" else NOW.isoformat()
    with engine.connect() as connection:
        ready = connection.execute(text("SELECT COUNT(*) FROM campaigns")).scalar() if _has_schema(engine) else 0
    if ready:
        print("  reusing generated data")
        return
    campaign_events = int(contacts * 0.92 * 1.0 + contacts * 0.9 * 0.75 * (0.4 + 0.12 + 0.003))
    generator.generate(engine, contacts, max(events - campaign_events, 0))
    steps = [*((f"campaigns {index}", sql) for index, sql in enumerate(campaign_sql(dialect))),
             ("campaign events", campaign_events_sql(dialect)),
             *((f"audience {index}", sql) for index, sql in enumerate(audience_sql(dialect)))]
    with engine.begin() as connection:
        if dialect == "postgresql":
            connection.execute(text("SET session_replication_role = replica"))
        for label, sql in steps:
            started = time.perf_counter()
            connection.execute(text(sql), {"now": now, "contacts": contacts})
            print(f"  generated {label} in {time.perf_counter() - started:.1f} s")
        if dialect == "postgresql":
            for table in ("campaigns", "variants", "segments"):
                connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 1000)"))
    _top_up(engine, events, now)
    _model(engine)
    _vacuum(engine)
    build_caches(engine)


REPORT_TABLES = ("report_touches", "report_send_days", "report_ledger_days", "message_stats", "report_cursors")


def cache_schema_changed(engine: Engine) -> bool:
    """Whether the report cache tables are missing or differ from the models (data generated by older code)."""
    from sqlalchemy import inspect

    from core.models import Base

    present = inspect(engine)
    tables = set(present.get_table_names())
    for name in REPORT_TABLES:
        if name not in tables:
            return True
        if {column["name"] for column in present.get_columns(name)} != set(Base.metadata.tables[name].c.keys()):
            return True
    return False


def build_caches(engine: Engine, *, recreate: bool = False) -> None:
    """The report caches' first build (what the first dashboard load after an upgrade needs), timed; with
    `recreate`, their tables are dropped and created from the models first."""
    from core.models import Base

    if recreate:
        with engine.begin() as connection:
            for name in REPORT_TABLES:
                connection.execute(text(f"DROP TABLE IF EXISTS {name}"))
            for name in reversed(REPORT_TABLES):
                Base.metadata.tables[name].create(connection)
    started = time.perf_counter()
    with session_scope(engine) as session:
        built = rebuild(session)
    print(f"  first build of the report caches ({built.new_messages:,} sent messages): "
          f"{time.perf_counter() - started:.1f} s (load average {_load()})")
    _vacuum(engine)


def _vacuum(engine: Engine) -> None:
    """VACUUM ANALYZE, as autovacuum would have done on a live database (visibility maps, statistics)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))


def _top_up(engine: Engine, events: int, now: str) -> None:
    """Background events (page visits) until the events table holds exactly `events` rows."""
    dialect = engine.dialect.name
    with engine.begin() as connection:
        missing = events - int(connection.execute(text("SELECT COUNT(*) FROM events")).scalar() or 0)
        if missing <= 0:
            return
        properties = "'{}'" if dialect == "sqlite" else "'{}'::jsonb"
        connection.execute(text(f"""INSERT INTO events (contact_id, type, occurred_at, properties, dedupe_key,
                                      created_at)
            SELECT 1 + (j * 48271) % (SELECT MAX(id) FROM contacts), 'page.visited',
                   {_ago(dialect, '(j * 7919) % 31536000')}, {properties}, 'topup-' || j, :now
            FROM {_series(dialect, 'j', str(missing))} AS s"""), {"now": now})
        print(f"  topped up {missing:,} background events")


def _has_schema(engine: Engine) -> bool:
    from sqlalchemy import inspect

    return "campaigns" in inspect(engine).get_table_names()


def _model(engine: Engine) -> None:
    from core.models import ScoringModel

    deciles = [{"decile": tenth, "contacts": 100_000, "converters": 1000 - tenth * 90, "rate": 0.01,
                "lift": 3 - tenth * 0.28, "capture": min(1.0, tenth * 0.17)} for tenth in range(1, 11)]
    with session_scope(engine) as session:
        session.add(ScoringModel(version=1, kind="bench", params={}, artefact=b"-", sklearn_version="bench",
                                 sha256="0" * 64, active=True, metrics={"roc_auc": 0.8, "pr_auc": 0.3, "brier": 0.05,
                                                                        "brier_skill": 0.2, "base_rate": 0.01,
                                                                        "deciles": deciles}))


def pages(settings: Settings) -> dict[str, list[Callable[[Any], Any]]]:
    """Each page and the loader calls its first display makes (the defaults a user lands on)."""
    today = clock.now().date()
    return {
        "overview": [lambda s: loaders.overview_page(s, settings, today - timedelta(days=29), today)],
        "campaigns": [lambda s: loaders.campaigns_page(s, settings)],
        "campaign report": [loaders.campaign_names, lambda s: loaders.campaign_page(s, settings, "bench-2")],
        "channels": [lambda s: loaders.channels_page(s, settings, today - timedelta(days=89), today)],
        "segments": [lambda s: loaders.segments_page(s, settings), lambda s: loaders.segment_preview(s, "segment-1")],
        "lead scoring": [loaders.scoring_page],
        "contacts": [lambda s: loaders.contact_search(s, "c123456@bench.test"),
                     lambda s: loaders.contact_search(s, "c12345"), lambda s: loaders.contact_page(s, 123456)],
        "schedule": [lambda s: list_segments(s), templates_by_channel],
    }


def timed(engine: Engine, calls: list[Callable[[Any], Any]]) -> float:
    started = time.perf_counter()
    for call in calls:
        with session_scope(engine) as session:
            call(session)
    return time.perf_counter() - started


def floor(engine: Engine, runs: int, sql: str = "SELECT COUNT(*) FROM events") -> float:
    """Best of `runs` runs of a bare statement (default: COUNT(*) over the events table)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        with engine.connect() as connection:
            connection.execute(text(sql)).all()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(engine: Engine, runs: int) -> None:
    settings = Settings(database_url=str(engine.url), _env_file=None)  # type: ignore[call-arg]
    clock.freeze(NOW)
    with engine.connect() as connection:
        counts = {table: connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()
                  for table in ("contacts", "events", "messages", "conversions")}
    print("  " + ", ".join(f"{table} {value:,}" for table, value in counts.items()))
    base = floor(engine, runs)
    scan = floor(engine, runs, "SELECT type, COUNT(*) FROM events GROUP BY type")
    ledger = floor(engine, runs, "SELECT campaign_id, SUM(cost) FROM messages GROUP BY campaign_id")
    print(f"  floor: bare COUNT(*) over events {base:.3f} s; references: GROUP BY type over events {scan:.3f} s, "
          f"cost per campaign from the ledger {ledger:.3f} s (best of {runs}; load average {_load()})")
    for name, calls in pages(settings).items():
        cold = timed(engine, calls)
        warm = [timed(engine, calls) for _ in range(runs - 1)]
        best = min([cold, *warm])
        verdict = "OK" if cold <= BUDGET else "OVER BUDGET"
        print(f"  {name:<16} first {cold:6.3f} s  best {best:6.3f} s  median {statistics.median([cold, *warm]):6.3f} s"
              f"   x{cold / base:6.2f} floor  x{cold / scan:5.2f} scan   budget {BUDGET:.0f} s {verdict}")
    clock.reset()


def _load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--db", default="postgresql,sqlite")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reuse", action="store_true",
                        help="Keep generated data from a previous run (the report caches are rebuilt when their "
                             "tables changed since).")
    parser.add_argument("--rebuild-cache", action="store_true",
                        help="Empty the report caches and time their first build (what the first dashboard load after "
                             "an upgrade waits for) before measuring the pages.")
    args = parser.parse_args()
    for dialect in args.db.split(","):
        print(f"{dialect}: {args.contacts:,} contacts, {args.events:,} events")
        engine = fresh_engine(dialect, args.reuse)
        generate(engine, args.contacts, args.events)
        if cache_schema_changed(engine) or args.rebuild_cache:
            build_caches(engine, recreate=True)
        measure(engine, args.runs)
        engine.dispose()


if __name__ == "__main__":
    main()
