"""Builders for campaign tests: a consenting audience, a campaign from keyword arguments, a loopback fake SendGrid
that records every message id it accepted, and ledger counters."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import func, insert, literal, select
from sqlalchemy.orm import Session

from campaigns.service import create_campaign
from contacts.consent import Proof, set_consent
from core.models import Campaign, Consent, Contact, Message, Segment
from segments.service import create_segment
from templates.pipeline import sync_library


def make_audience(session: Session, count: int, *, segment: str = "audience", channels: tuple[str, ...] = ("email",),
                  prefix: str = "person", **fields: Any) -> list[Contact]:
    """`count` contacts tagged by an `audience_tag` attribute, with marketing consent on `channels`, and a dynamic
    segment selecting them."""
    contacts = []
    for index in range(count):
        values = {"email": f"{prefix}{index}@example.org", "first_name": f"P{index}", "language": "fr",
                  "country": "FR", "timezone": "Europe/Paris", "phone": f"+3361{index:07d}",
                  "address_line1": f"{index + 1} rue de la Paix", "postcode": "75002", "city": "Paris",
                  "attributes": {"audience_tag": segment}, **fields}
        contact = Contact(**values)
        session.add(contact)
        contacts.append(contact)
    session.flush()
    for contact in contacts:
        for channel in channels:
            set_consent(session, contact.id, channel, "granted", Proof(source="test"))
    if not _segment_exists(session, segment):
        create_segment(session, segment, {"conditions": [
            {"field": "attributes.audience_tag", "op": "eq", "value": segment}]})
    session.commit()
    return contacts


def _segment_exists(session: Session, name: str) -> bool:
    return session.scalar(select(Segment.id).where(Segment.name == name)) is not None


def make_campaign(session: Session, *, name: str = "spring", segment: str = "audience", channel: Any = "email",
                  template: Any = "welcome", **definition: Any) -> Campaign:
    """A stored campaign (templates synced first); any definition key can be given."""
    sync_library(session)
    document = {"name": name, "segment": segment, "channel": channel, **definition}
    if "variants" not in definition:
        document["template"] = template
    campaign = create_campaign(session, document)
    session.commit()
    return campaign


def statuses(session: Session, campaign: Campaign) -> Counter[str]:
    """Messages per status for a campaign."""
    session.expire_all()
    rows = session.execute(select(Message.status, func.count()).where(Message.campaign_id == campaign.id)
                           .group_by(Message.status))
    return Counter(dict(rows.tuples().all()))


@dataclass
class FakeSendGrid:
    """A loopback SendGrid v3 Mail Send: records each accepted message id (our custom arg), per request."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    script: list[int] = field(default_factory=list)  # statuses to answer before 202s (e.g. [429, 500])
    delay: float = 0.0  # between accepting a request and answering it
    in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> Counter[str]:
        with self.lock:
            return Counter(self.message_ids)

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until no request is being handled (a dead client's last request may still be in the socket)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not self.in_flight:
                    return
            time.sleep(0.01)


def _handler(state: FakeSendGrid) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            with state.lock:
                state.in_flight += 1
            try:
                self._answer()
            finally:
                with state.lock:
                    state.in_flight -= 1

        def _answer(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:  # accepted on receipt, like the real API: the answer may never reach the client
                status = state.script.pop(0) if state.script else 202
                if status == 202:
                    state.requests.append(body)
                    state.message_ids += [item["custom_args"]["message_id"] for item in body["personalizations"]]
                number = len(state.requests)
            if state.delay:
                time.sleep(state.delay)
            self.send_response(status)
            if status == 202:
                self.send_header("X-Message-Id", f"sg{number:06d}")
            if status == 429:
                self.send_header("X-RateLimit-Reset", str(int(time.time())))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def fake_sendgrid() -> Iterator[FakeSendGrid]:
    """A running fake on a free loopback port."""
    state = FakeSendGrid()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def sendgrid_channels(fake: FakeSendGrid, **options: Any) -> dict[str, Any]:
    """RELANCE_CHANNELS pointing email at the fake."""
    return {"email": {"backend": "sendgrid", "options": {"api_key": "SG.test", "host": fake.url, "max_retries": 1,
                                                         "backoff": 0.01, **options}}}


def bulk_audience(session: Session, count: int, *, segment: str = "bulk", prefix: str = "bulk") -> None:
    """`count` emailable contacts with consent and a segment selecting them, inserted in bulk (fast)."""
    session.execute(insert(Contact), [
        {"email": f"{prefix}{index}@example.org", "first_name": f"B{index}", "language": "fr", "country": "FR",
         "attributes": {"audience_tag": segment}} for index in range(count)])
    ours = select(Contact.id, literal("email"), literal("marketing"), literal("granted"), literal("test")) \
        .where(Contact.email.like(f"{prefix}%@example.org"))
    session.execute(insert(Consent).from_select(["contact_id", "channel", "topic", "status", "source"], ours))
    if not _segment_exists(session, segment):
        create_segment(session, segment, {"conditions": [
            {"field": "attributes.audience_tag", "op": "eq", "value": segment}]})
    session.commit()
