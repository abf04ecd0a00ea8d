"""Bench: journeys at scale — N contacts, N enrollments waiting, N/10 of them due at once — on PostgreSQL or SQLite.

    .venv/bin/python bench/journeys.py [--count 1000000] [--db postgresql|sqlite] [--due 100000] [--batch 20000]

Generates N contacts (scores 0-99) with email consent and a published journey
    wait 7d → branch on score (≥ 50: hot, else warm) → update (score, tag) → send email (ledger only)
    → wait for a click on that email (timeout 30d)
with N enrollments at the first wait, `--due` of them due now. Then times, with the real tick:
  * the claim: the due lookup at a step holding everyone (nothing due: what every idle tick pays) and claiming a
    batch of 1,000 due among N (median of repeated runs, rolled back);
  * advancing the due ones through wait → branch → update (budget: ≥ 5,000 enrollments/s, ≤ 20 s for 100,000);
  * their send step writing the ledger, before any dispatch (budget: ≤ 10 s for 100,000);
  * a wake-up: 1,000 clicks on those emails, and how many enrollments the next tick moves past the event wait;
and prints each with the floor measured in the same run — bare UPDATEs touching the same due rows (one per step)
and a bare INSERT…SELECT of as many ledger rows — and the peak RSS (memory stays flat as N grows).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine, make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contacts.timeline import NewEvent, record_events  # noqa: E402
from core import clock  # noqa: E402
from core.db import make_engine, session_scope  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import Enrollment, JourneyVersion, Message  # noqa: E402
from core.settings import Settings  # noqa: E402
from journeys.batch import claim, due_query  # noqa: E402
from journeys.service import get_journey, save_draft  # noqa: E402
from journeys.status import journey_status  # noqa: E402
from journeys.tick import tick  # noqa: E402
from journeys.versions import publish  # noqa: E402
from templates.pipeline import sync_library  # noqa: E402

PG_ADMIN = os.environ.get("RELANCE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
JOURNEY = {"name": "bench", "trigger": "manual", "steps": [
    {"id": "wait", "wait": "7d"},
    {"id": "check", "branch": [{"if": {"score": {"gte": 50}}, "goto": "hot"}, {"else": "warm"}]},
    {"id": "hot", "update": {"score": 10, "add_tags": ["hot"]}, "goto": "mail"},
    {"id": "warm", "update": {"score": 1}},
    {"id": "mail", "send": {"channel": "email", "template": "welcome"}},
    {"id": "clicked", "wait": {"for_event": "email.clicked", "step": "mail", "timeout": "30d",
                               "on_event": "thanks", "on_timeout": "done"}},
    {"id": "thanks", "update": {"add_tags": ["clicker"]}},
    {"id": "done", "exit": True}]}
ADVANCE = ("wait", "check", "hot", "warm")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _database(kind: str, workdir: Path) -> str:
    if kind == "sqlite":
        path = workdir / "bench-journeys.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS relance_bench_journeys WITH (FORCE)"))
        connection.execute(text("CREATE DATABASE relance_bench_journeys"))
    admin.dispose()
    return make_url(PG_ADMIN).set(database="relance_bench_journeys").render_as_string(hide_password=False)


def _series(engine: Engine) -> str:
    if engine.dialect.name == "postgresql":
        return "generate_series(1, :n) AS i"
    return "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) SELECT i FROM s)"


def _generate(engine: Engine, settings: Settings, count: int, due: int) -> tuple[float, int, int]:
    """Contacts, consent, the published journey and `count` enrollments waiting (`due` due now)."""
    started = time.perf_counter()
    now = clock.now()
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO contacts (email, first_name, language, country, timezone, attributes, email_status, "
            "sms_status, mail_status, lifecycle_stage, score, created_at, updated_at) "
            "SELECT 'user' || i || '@example.org', 'Zoé', 'fr', 'FR', 'Europe/Paris', '{}', 'valid', 'unknown', "
            f"'unknown', 'lead', i % 100, :now, :now FROM {_series(engine)}"), {"n": count, "now": now})
        connection.execute(text(
            "INSERT INTO consents (contact_id, channel, topic, status, source, occurred_at) "
            "SELECT id, 'email', 'marketing', 'granted', 'bench', :now FROM contacts"), {"now": now})
    with session_scope(engine) as session:
        sync_library(session)
        journey, _ = save_draft(session, JOURNEY, actor="bench")
        publish(session, settings, journey, actor="bench")
        journey_id = journey.id
        version_id = session.scalar(select(JourneyVersion.id).where(JourneyVersion.journey_id == journey_id))
    every = max(count // due, 1)
    with engine.begin() as connection:  # bench set-up: as many enrollments as `relance journey enroll` would make
        connection.execute(text(
            "INSERT INTO enrollments (journey_id, version_id, contact_id, entry_key, status, step, due_at, "
            "arrived_at, held_out, entered_at) SELECT :journey, :version, id, 'once', 'active', 'wait', "
            "CASE WHEN id % :every = 0 THEN :due ELSE :later END, :now, false, :now FROM contacts ORDER BY id"),
            {"journey": journey_id, "version": version_id, "every": every, "due": now - timedelta(minutes=1),
             "later": now + timedelta(days=7), "now": now})
        connection.execute(text("ANALYZE"))
    return time.perf_counter() - started, journey_id, version_id


def _claim_times(engine: Engine, version_id: int, repeats: int = 15) -> tuple[float, float, float]:
    """Median seconds of (the due lookup at a step where nothing is due, claiming 1,000 due, a bare SELECT of the
    1,000 due ids — the floor), each rolled back."""
    idle, busy, bare = [], [], []
    for _ in range(repeats):
        with engine.connect() as connection:
            started = time.perf_counter()
            connection.execute(due_query(version_id, "wait", clock.now(), 1000)).all()
            bare.append(time.perf_counter() - started)
        with engine.connect() as connection:
            started = time.perf_counter()
            connection.execute(due_query(version_id, "clicked", clock.now(), 20_000)).all()
            idle.append(time.perf_counter() - started)
        with session_scope(engine) as session:
            started = time.perf_counter()
            claim(session, version_id, "wait", 1000)
            busy.append(time.perf_counter() - started)
            session.rollback()
    return statistics.median(idle), statistics.median(busy), statistics.median(bare)


def _floor(engine: Engine, version_id: int, due: int) -> tuple[float, float]:
    """Bare SQL on the same rows, rolled back: one UPDATE of the due enrollments per advancing step (4), and one
    INSERT…SELECT of `due` ledger-sized rows."""
    with engine.connect() as connection:
        transaction = connection.begin()
        started = time.perf_counter()
        for step in ADVANCE:
            connection.execute(text("UPDATE enrollments SET step = :step, arrived_at = arrived_at WHERE version_id = "
                                    ":version AND status = 'active' AND due_at <= :now AND step IN ('wait', "
                                    "'check', 'hot', 'warm')"), {"step": step, "version": version_id,
                                                                 "now": clock.now()})
        updates = time.perf_counter() - started
        transaction.rollback()
    with engine.connect() as connection:
        transaction = connection.begin()
        started = time.perf_counter()
        connection.execute(text(
            "INSERT INTO messages (id, campaign_id, contact_id, rotation, channel, status, parts, attempts, "
            "next_attempt_at, created_at, updated_at) SELECT 'floor-' || e.id, c.id, e.contact_id, e.id, 'email', "
            "'queued', 1, 0, :now, :now, :now FROM enrollments e, (SELECT MIN(id) AS id FROM campaigns) c "
            "WHERE e.version_id = :version AND e.due_at <= :now AND e.status = 'active'"),
            {"now": clock.now(), "version": version_id})
        inserts = time.perf_counter() - started
        transaction.rollback()
    return updates, inserts


def _wake(engine: Engine, settings: Settings, clicks: int) -> tuple[int, float]:
    """`clicks` clicks on the emails of the `mail` step, then one tick: how many moved past the event wait."""
    with session_scope(engine) as session:
        sent = session.execute(select(Message.id, Message.contact_id).where(Message.status == "queued")
                               .order_by(Message.id).limit(clicks)).all()
        record_events(session, [NewEvent("email.clicked", f"bench-click:{message_id}", contact_id, clock.now(),
                                         message_id=message_id, properties={"url": "https://example.org"})
                                for message_id, contact_id in sent])
    clock.travel(timedelta(seconds=1))
    started = time.perf_counter()
    report = tick(engine, settings, dispatch=False)
    return report.journeys[0].acted.get("thanks", 0), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--batch", type=int, default=20_000)
    args = parser.parse_args()
    workdir = Path("bench-output")
    workdir.mkdir(exist_ok=True)
    url = _database(args.db, workdir)
    settings = Settings(database_url=url, outbox_dir=workdir / "outbox", journey_batch_size=args.batch,
                        _env_file=None)  # type: ignore[call-arg]
    engine = make_engine(url)
    upgrade(engine)
    made, journey_id, version_id = _generate(engine, settings, args.count, args.due)
    with session_scope(engine) as session:
        due = session.scalar(select(func.count()).select_from(Enrollment).where(Enrollment.due_at <= clock.now()))
    print(f"{args.db}: {args.count:,} contacts and enrollments waiting, {due:,} due, generated in {made:.1f} s")
    idle, claimed, bare = _claim_times(engine, version_id)
    print(f"claim: due lookup with {args.count:,} waiting and none due {idle * 1000:.1f} ms; claiming 1,000 due "
          f"(locked, copied into the batch table) {claimed * 1000:.1f} ms (median of 15; budget < 50 ms); floor (bare "
          f"SELECT of their ids) {bare * 1000:.1f} ms, ratio {claimed / bare:.1f}×")
    floor_updates, floor_inserts = _floor(engine, version_id, args.due)
    started = time.perf_counter()
    report = tick(engine, settings, dispatch=False)
    total = time.perf_counter() - started
    item = report.journeys[0]
    advance = sum(item.timings.get(step, 0.0) for step in ADVANCE)
    send = item.timings.get("mail", 0.0)
    moved = item.acted.get("wait", 0)
    print(f"advance wait → branch → update: {moved:,} enrollments in {advance:.2f} s = {moved / advance:,.0f}/s "
          f"(budget ≥ 5,000/s); floor (4 bare UPDATEs of the same rows) {floor_updates:.2f} s, ratio "
          f"{advance / floor_updates:.1f}×")
    print(f"send step: {item.ledgered:,} ledger rows in {send:.2f} s (budget ≤ 10 s for 100,000, before dispatch); "
          f"floor (bare INSERT…SELECT of as many rows) {floor_inserts:.2f} s, ratio {send / floor_inserts:.1f}×")
    print(f"whole tick {total:.2f} s; per step: " + ", ".join(f"{step} {seconds:.2f} s" for step, seconds in
                                                              item.timings.items() if seconds >= 0.01))
    woken, seconds = _wake(engine, settings, 1000)
    print(f"wake-up: 1,000 clicks → {woken:,} enrollments past the event wait in the next tick ({seconds:.2f} s)")
    with session_scope(engine) as session:
        started = time.perf_counter()
        journey_status(session, get_journey(session, "bench"))
        print(f"status (the CLI table and the dashboard page's counts): {time.perf_counter() - started:.2f} s "
              "(dashboard budget ≤ 2 s)")
    print(f"peak RSS {_rss_mb():.0f} MB")
    print(f"check: {get_journey_status(engine, journey_id)}")


def get_journey_status(engine: Engine, journey_id: int) -> Any:
    with session_scope(engine) as session:
        journey = get_journey(session, str(journey_id))
        rows = session.execute(select(Enrollment.step, func.count()).where(Enrollment.journey_id == journey.id)
                               .group_by(Enrollment.step)).all()
        return {step: count for step, count in rows}


if __name__ == "__main__":
    main()
