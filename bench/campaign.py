"""Bench: plan + dispatch N emails to a loopback fake SendGrid (a separate process), on PostgreSQL or SQLite.

    .venv/bin/python bench/campaign.py [--count 1000000] [--db postgresql|sqlite] [--template newsletter]
                                       [--dispatchers 2] [--batch-size 2000]

Generates N emailable contacts in SQL, plans the campaign (one INSERT…SELECT) and dispatches it with the real
dispatcher and SendGrid backend (official SDK, 1000 personalizations per request for substitution templates),
in `--dispatchers` processes sharing the campaign as workers do (SKIP LOCKED claims). Prints plan and dispatch
times, messages/s, the peak RSS of the largest process, and the floor measured in the same run: a bare loop
posting pre-built payloads of the same size to the same fake on one kept-alive connection.
Budget (1,000,000 emails on PostgreSQL): <= 2 minutes and <= 500 MB peak RSS.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import json
import multiprocessing
import os
import resource
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from campaigns.dispatcher import Dispatcher  # noqa: E402
from campaigns.planner import plan_campaign  # noqa: E402
from campaigns.service import create_campaign  # noqa: E402
from core.db import make_engine, session_scope  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.settings import Settings  # noqa: E402
from segments.service import create_segment  # noqa: E402
from templates.pipeline import sync_library  # noqa: E402

PG_ADMIN = os.environ.get("RELANCE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


class _Fake(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        count = len(body["personalizations"])
        self.server.accepted += count  # type: ignore[attr-defined]
        self.send_response(202)
        self.send_header("X-Message-Id", f"bench{count}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _serve(port_queue: Any) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    server.accepted = 0  # type: ignore[attr-defined]
    port_queue.put(server.server_address[1])
    server.serve_forever()


def _database(kind: str, workdir: Path) -> str:
    if kind == "sqlite":
        path = workdir / "bench-campaign.db"
        path.unlink(missing_ok=True)
        return f"sqlite:///{path}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS relance_bench_campaign WITH (FORCE)"))
        connection.execute(text("CREATE DATABASE relance_bench_campaign"))
    admin.dispose()
    return make_url(PG_ADMIN).set(database="relance_bench_campaign").render_as_string(hide_password=False)


def _generate(url: str, count: int) -> float:
    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    series = ("generate_series(1, :n) AS i" if engine.dialect.name == "postgresql" else
              "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) SELECT i FROM s)")
    attributes = "'{\"audience_tag\": \"bench\"}'" + ("::jsonb" if engine.dialect.name == "postgresql" else "")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO contacts (email, first_name, language, country, timezone, attributes, email_status, "
            "sms_status, mail_status, lifecycle_stage, score, created_at, updated_at) "
            f"SELECT 'user' || i || '@example.org', 'Zoé', 'fr', 'FR', 'Europe/Paris', {attributes}, 'valid', "
            f"'unknown', 'unknown', 'lead', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM {series}"), {"n": count})
        connection.execute(text(
            "INSERT INTO consents (contact_id, channel, topic, status, source, occurred_at) "
            "SELECT id, 'email', 'marketing', 'granted', 'bench', CURRENT_TIMESTAMP FROM contacts"))
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))
    with session_scope(engine) as session:
        sync_library(session)
        create_segment(session, "bench", {"conditions": [
            {"field": "attributes.audience_tag", "op": "eq", "value": "bench"}]})
    engine.dispose()
    return time.perf_counter() - started


def _floor(port: int, requests: int, per_request: int) -> float:
    """Seconds to post `requests` pre-built payloads of `per_request` personalizations on one connection."""
    personalization = {"to": [{"email": "user1@example.org"}], "custom_args": {"message_id": "0" * 36},
                       "substitutions": {"-rh0-": "Zoé", "-rt0-": "Zoé"}}
    payload = json.dumps({"from": {"email": "b@example.org"}, "subject": "x", "personalizations":
                          [personalization] * per_request, "content": [{"type": "text/html", "value": "x" * 20000}]
                          }).encode()
    connection = http.client.HTTPConnection("127.0.0.1", port)
    started = time.perf_counter()
    for _ in range(requests):
        connection.request("POST", "/v3/mail/send", body=payload, headers={"Content-Type": "application/json"})
        connection.getresponse().read()
    connection.close()
    return time.perf_counter() - started


def _dispatch(url: str, settings_json: str, campaign_id: int, batch_size: int, results: Any) -> None:
    """One dispatcher process: send until nothing is due; report its time, peak RSS and what it sent."""
    settings = Settings.model_validate_json(settings_json)
    engine = make_engine(url)
    sent = 0

    def count(result: Any) -> None:
        nonlocal sent
        sent += result.tally.sent

    dispatcher = Dispatcher(engine, settings, batch_size=batch_size)
    profile_dir = os.environ.get("RELANCE_BENCH_PROFILE")  # set by --profile
    profiler = cProfile.Profile() if profile_dir else None
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    dispatcher.run(campaign_id, on_batch=count)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(Path(str(profile_dir)) / f"dispatcher-{os.getpid()}.prof"))
    dispatcher.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    results.put((time.perf_counter() - started, usage.ru_maxrss / 1024, sent, usage.ru_utime + usage.ru_stime))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--template", default="newsletter")
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--dispatchers", type=int, default=2, help="processes sharing the campaign")
    parser.add_argument("--profile", type=Path, help="write each dispatcher's cProfile stats into this folder "
                                                     "(figures are then slower than without)")
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        os.environ["RELANCE_BENCH_PROFILE"] = str(args.profile.resolve())
    workdir = Path("/tmp/relance-bench")
    workdir.mkdir(exist_ok=True)
    queue: Any = multiprocessing.Queue()
    fake = multiprocessing.Process(target=_serve, args=(queue,), daemon=True)
    fake.start()
    port = queue.get()
    url = _database(args.db, workdir)
    generated = _generate(url, args.count)
    settings = Settings(_env_file=None, database_url=url, outbox_dir=workdir / "outbox",  # type: ignore[call-arg]
                        channels={"email": {"backend": "sendgrid", "options": {
                            "api_key": "SG.bench", "host": f"http://127.0.0.1:{port}", "timeout": 60}}})
    engine = make_engine(url)
    with session_scope(engine) as session:
        campaign = create_campaign(session, {"name": "bench", "segment": "bench", "channel": "email",
                                             "template": args.template})
        started = time.perf_counter()
        report = plan_campaign(session, settings, campaign, dry_run=False)
        campaign_id = campaign.id
    planned = time.perf_counter() - started
    engine.dispose()
    results: Any = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_dispatch, args=(url, settings.model_dump_json(), campaign_id,
                                                               args.batch_size, results))
               for _ in range(args.dispatchers)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    outcomes = [results.get() for _ in workers]
    dispatched = time.perf_counter() - started
    for worker in workers:
        worker.join()
    with session_scope(engine) as session:
        status = session.scalar(text("SELECT status FROM campaigns WHERE id = :id"), {"id": campaign_id})
    peak_mb = max([resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024] + [rss for _, rss, _, _ in outcomes])
    floor = _floor(port, max(args.count // 1000, 1), min(args.count, 1000))
    fake.terminate()
    total = planned + dispatched
    print(f"{args.count:,} emails ({args.template}) on {args.db}; load average {os.getloadavg()[0]:.2f}; "
          f"contacts generated in {generated:.1f} s")
    print(f"plan (one INSERT…SELECT): {planned:.1f} s for {report.written:,} ledger rows")
    shares = ", ".join(f"{sent:,} ({cpu:.1f} s CPU)" for _, _, sent, cpu in outcomes)
    cpu_total = sum(cpu for _, _, _, cpu in outcomes)
    print(f"dispatch: {dispatched:.1f} s — {args.count / dispatched:,.0f} emails/s with {args.dispatchers} "
          f"dispatcher process(es) (sent {shares}; {cpu_total / args.count * 1e6:.0f} µs CPU per email); "
          f"campaign {status}")
    print(f"plan + dispatch: {total:.1f} s (budget 120 s at 1M); peak RSS {peak_mb:,.0f} MB (budget 500 MB)")
    print(f"floor — bare POST loop of pre-built 1000-personalization payloads to the same fake: {floor:.1f} s "
          f"({args.count / floor:,.0f} emails/s); dispatch is {dispatched / floor:.1f}x the floor")


if __name__ == "__main__":
    main()
