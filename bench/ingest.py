"""Bench: sustained SendGrid event ingestion over HTTP on loopback — accepted and applied events/s, p99 ack latency.

    .venv/bin/python bench/ingest.py [--events 200000] [--batch 500] [--clients 4] [--db sqlite|postgresql]

A uvicorn process serves the real app (signature check, raw storage, background applier); client threads post
signed batches of realistic events for messages of a sent campaign. The floor is a bare POST loop, same
clients, same bodies, to a trivial endpoint of the same server. Budget: >= 5,000 events/s accepted AND applied.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.db import make_engine, session_scope  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import Campaign  # noqa: E402

PG_ADMIN = os.environ.get("RELANCE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MIX = [("delivered", 50), ("open", 22), ("click", 8), ("processed", 12), ("deferred", 4), ("bounce", 3),
       ("unsubscribe", 1)]


def bench_app() -> Any:
    """The real app plus a trivial endpoint for the floor (used by the uvicorn server process)."""
    from starlette.responses import Response

    from core.settings import get_settings
    from web.app import create_app

    app = create_app(get_settings(), apply_interval=0.5)

    async def noop(request: Any) -> Response:
        await request.body()
        return Response(status_code=204)

    app.router.add_route("/bench/noop", noop, methods=["POST"])
    return app


def _database(kind: str, workdir: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'ingest.db'}"
    name = f"relance_bench_ingest_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def _drop(url: str) -> None:
    if url.startswith("postgresql"):
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
        admin.dispose()


def _ledger(url: str, messages: int) -> list[tuple[str, str]]:
    """A sent campaign: `messages` contacts and their messages, written in bulk; returns (message id, email)."""
    engine = make_engine(url)
    upgrade(engine)
    now = "2026-11-23 12:00:00"
    rows = [(str(uuid.uuid4()), i + 1, f"bench{i}@example.com") for i in range(messages)]
    with session_scope(engine) as session:  # the ORM fills the campaign's defaults, whatever columns it grows
        campaign = Campaign(name="bench", channels=["email"], status="sending")
        session.add(campaign)
        session.flush()
        campaign_id = campaign.id
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO contacts (id, email, lifecycle_stage, attributes, email_status, sms_status, mail_status, "
            "score, created_at, updated_at) VALUES (:id, :email, 'lead', '{}', 'unknown', 'unknown', 'unknown', 0, "
            ":now, :now)"), [{"id": cid, "email": email, "now": now} for _, cid, email in rows])
        connection.execute(text(
            "INSERT INTO messages (id, campaign_id, contact_id, rotation, channel, status, parts, attempts, created_at,"
            " updated_at) VALUES (:id, :campaign, :cid, 0, 'email', 'sent', 1, 1, :now, :now)"),
            [{"id": mid, "campaign": campaign_id, "cid": cid, "now": now} for mid, cid, _ in rows])
    engine.dispose()
    return [(mid, email) for mid, _, email in rows]


def _bodies(ledger: list[tuple[str, str]], events: int, batch: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    kinds = [kind for kind, weight in MIX for _ in range(weight)]
    stamp = int(time.time())
    bodies = []
    for start in range(0, events, batch):
        items = []
        for _ in range(min(batch, events - start)):
            message_id, email = rng.choice(ledger)
            kind = rng.choice(kinds)
            item = {"email": email, "timestamp": stamp, "event": kind, "sg_event_id": uuid.uuid4().hex,
                    "sg_message_id": f"{uuid.uuid4().hex[:22]}.filter", "message_id": message_id}
            if kind in ("open", "click"):
                item["useragent"] = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15"
                item["ip"] = "203.0.113.7"
            if kind == "click":
                item["url"] = "https://shop.example.com/p/42?utm_source=relance"
            if kind == "bounce":
                item.update(type="bounce" if rng.random() < 0.5 else "blocked", status="5.1.1", reason="no such user")
            items.append(item)
        bodies.append(json.dumps(items).encode())
    return bodies


class Server:
    """uvicorn serving bench_app in its own process."""

    def __init__(self, url: str, public_key: str) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        env = {**os.environ, "RELANCE_DATABASE_URL": url, "RELANCE_SENDGRID_WEBHOOK_PUBLIC_KEY": public_key,
               "RELANCE_PUBLIC_URL": f"http://127.0.0.1:{self.port}", "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "ingest:bench_app", "--app-dir", str(ROOT / "bench"),
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning", "--no-access-log"],
            env=env, cwd=ROOT)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def _post_all(base: str, path: str, bodies: list[bytes], clients: int, sign: Any) -> tuple[float, list[float]]:
    """Post every body (split over `clients` threads, keep-alive); returns elapsed seconds and per-request latency."""
    latencies: list[float] = []
    lock = threading.Lock()
    failures: list[str] = []

    def worker(share: list[bytes]) -> None:
        local = []
        with httpx.Client(base_url=base, timeout=60) as client:
            for body in share:
                headers = sign(body)
                started = time.perf_counter()
                response = client.post(path, content=body, headers=headers)
                local.append(time.perf_counter() - started)
                if response.status_code >= 300:
                    failures.append(f"{response.status_code} {response.text[:200]}")
        with lock:
            latencies.extend(local)

    threads = [threading.Thread(target=worker, args=(bodies[i::clients],)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, first: {failures[0]}")
    return time.perf_counter() - started, latencies


def _wait_applied(url: str, started: float, timeout: float = 600) -> float:
    engine = make_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                pending = connection.scalar(text("SELECT count(*) FROM inbound_requests WHERE status = 'pending'"))
            if not pending:
                return time.perf_counter() - started
            time.sleep(0.05)
        raise RuntimeError("feedback not applied in time")
    finally:
        engine.dispose()


def _count(url: str, sql: str) -> int:
    engine = make_engine(url)
    with engine.connect() as connection:
        value = int(connection.scalar(text(sql)) or 0)
    engine.dispose()
    return value


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="relance-ingest-"))
    url = _database(args.db, workdir)
    key = ec.generate_private_key(ec.SECP256R1())
    public = base64.b64encode(key.public_key().public_bytes(serialization.Encoding.DER,
                                                            serialization.PublicFormat.SubjectPublicKeyInfo)).decode()

    def sign(body: bytes) -> dict[str, str]:
        stamp = str(int(time.time()))
        signature = base64.b64encode(key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
        return {"X-Twilio-Email-Event-Webhook-Signature": signature,
                "X-Twilio-Email-Event-Webhook-Timestamp": stamp, "Content-Type": "application/json"}

    try:
        ledger = _ledger(url, args.messages)
        bodies = _bodies(ledger, args.events, args.batch)
        server = Server(url, public)
        try:
            floor_elapsed, _ = _post_all(server.base, "/bench/noop", bodies, args.clients, lambda body: {})
            started = time.perf_counter()
            accept_elapsed, latencies = _post_all(server.base, "/webhooks/sendgrid", bodies, args.clients, sign)
            applied_elapsed = _wait_applied(url, started)
        finally:
            server.stop()
        recorded = _count(url, "SELECT count(*) FROM events")
        delivered = _count(url, "SELECT count(*) FROM messages WHERE status IN ('delivered', 'bounced')")
    finally:
        _drop(url)
    latencies.sort()
    return {
        "db": args.db, "events": args.events, "batch": args.batch, "clients": args.clients,
        "accepted_events_per_s": args.events / accept_elapsed, "applied_events_per_s": args.events / applied_elapsed,
        "ack_p50_ms": statistics.median(latencies) * 1000,
        "ack_p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        "floor_events_per_s": args.events / floor_elapsed, "ratio_to_floor": floor_elapsed / accept_elapsed,
        "events_recorded": recorded, "messages_moved": delivered,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500, help="events per webhook request")
    parser.add_argument("--clients", type=int, default=4, help="concurrent posting clients")
    parser.add_argument("--messages", type=int, default=50_000, help="sent messages the events refer to")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    result = run(parser.parse_args())
    print(f"SendGrid ingestion over HTTP on loopback ({result['db']}, {result['events']:,} events in batches of "
          f"{result['batch']}, {result['clients']} clients)")
    print(f"  accepted : {result['accepted_events_per_s']:>10,.0f} events/s   ack p50 {result['ack_p50_ms']:.1f} ms, "
          f"p99 {result['ack_p99_ms']:.1f} ms")
    print(f"  applied  : {result['applied_events_per_s']:>10,.0f} events/s   (first post → nothing pending; "
          f"{result['events_recorded']:,} events recorded, {result['messages_moved']:,} messages moved)")
    print(f"  floor    : {result['floor_events_per_s']:>10,.0f} events/s   bare POST loop, same bodies, same server")
    print(f"  ratio    : accepted = {result['ratio_to_floor']:.2f} x floor")
    budget = min(result["accepted_events_per_s"], result["applied_events_per_s"])
    print(f"  budget   : >= 5,000 events/s accepted and applied → {'OK' if budget >= 5000 else 'MISSED'} "
          f"({budget:,.0f})")


if __name__ == "__main__":
    main()
