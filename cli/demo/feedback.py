"""Demo step: responses to the demo campaign flow back through the signed endpoints into contact records."""

from __future__ import annotations

import base64
import json
import random
import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from rich.table import Table
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cli.demo.context import EXAMPLES as DEMO_EXAMPLES
from cli.demo.context import DemoContext
from contacts.timeline import timeline
from core import clock
from core.db import session_scope
from core.ledger import MessageStatus
from core.links import link_token
from core.models import Consent, Contact, Message, Suppression
from core.settings import Settings
from feedback.apply import FeedbackSummary, apply_all

FORMS_DIR = DEMO_EXAMPLES / "forms"
HUMAN_AGENT = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
PROXY_AGENT = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


@dataclass
class Simulation:
    """The in-process client, its demo keys, and a tally of the HTTP answers."""

    client: Any
    settings: Settings
    private_key: Any
    rng: random.Random
    answers: Counter[str] = field(default_factory=Counter)

    def sendgrid(self, events: list[dict[str, Any]]) -> None:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        body = json.dumps(events).encode()
        stamp = str(int(time.time()))
        signature = base64.b64encode(self.private_key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256())))
        response = self.client.post("/webhooks/sendgrid", content=body, headers={
            "X-Twilio-Email-Event-Webhook-Signature": signature.decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp, "Content-Type": "application/json"})
        self.answers[f"POST /webhooks/sendgrid → {response.status_code}"] += 1

    def twilio(self, path: str, params: dict[str, str]) -> str:
        from twilio.request_validator import RequestValidator

        token = self.settings.twilio_auth_token.get_secret_value() if self.settings.twilio_auth_token else ""
        url = f"{self.settings.public_url.rstrip('/')}{path}"
        signature = RequestValidator(token).compute_signature(url, params)
        response = self.client.post(path, content=urlencode(params).encode(), headers={
            "X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"})
        self.answers[f"POST {path} → {response.status_code}"] += 1
        return str(response.text)

    def get(self, path: str, agent: str = HUMAN_AGENT) -> None:
        response = self.client.get(path, headers={"User-Agent": agent}, follow_redirects=False)
        prefix = "/".join(path.split("/")[:3])
        self.answers[f"GET {prefix}/… → {response.status_code}"] += 1

    def post(self, path: str, **kwargs: Any) -> Any:
        response = self.client.post(path, follow_redirects=False, **kwargs)
        label = "/u/…" if path.startswith("/u/") else path
        self.answers[f"POST {label} → {response.status_code}"] += 1
        return response


@dataclass(frozen=True)
class FeedbackDemo:
    """What the feedback step did: the applied summary, the HTTP answers by route and status, the contact shown."""

    summary: FeedbackSummary
    answers: Counter[str]
    focus_contact: int | None


def run(context: DemoContext) -> FeedbackDemo:
    """Simulate deliveries, opens, clicks, bounces, a complaint, STOP replies, leads and conversions."""
    import warnings

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's notice about its test client's HTTP library
        from fastapi.testclient import TestClient

    from connectors.memory import MemoryBackend
    from web.app import create_app

    console = context.console
    console.rule("[bold]Feedback: webhooks, tracking, unsubscribe, forms and conversions")
    private_key = ec.generate_private_key(ec.SECP256R1())
    public_key = base64.b64encode(private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    settings = Settings(**{**context.settings.model_dump(), "sendgrid_webhook_public_key": public_key,
                           "twilio_auth_token": secrets.token_hex(16), "api_key": secrets.token_hex(16),
                           "forms_dir": FORMS_DIR, "form_rate_limit": 1000}, _env_file=None)
    email_messages, sms_messages = _sent_messages(context)
    if not email_messages and not sms_messages:
        console.print("[yellow]No sent messages in the ledger (campaign step not run): events are addressed to "
                      "contacts by email/phone only.[/]")
    focus = _focus_contact(context.engine, email_messages)
    before = _timeline_table(context.engine, focus, "before")
    with session_scope(context.engine) as session:
        effects_before = _contact_effects(session)
    mailbox = MemoryBackend("email")
    app = create_app(settings, engine=context.engine, background=False, email_backend=mailbox)
    started = time.perf_counter()
    with TestClient(app, base_url=settings.public_url) as client:
        sim = Simulation(client, settings, private_key, random.Random(context.seed))
        _email_responses(sim, context.engine, email_messages, focus)
        _sms_responses(sim, context.engine, sms_messages)
        _leads_and_conversions(sim, context.engine, email_messages, focus)
        summary = apply_all(context.engine, settings)
    elapsed = time.perf_counter() - started
    _report(context, sim, summary, mailbox, elapsed, before, focus, effects_before)
    return FeedbackDemo(summary, sim.answers, focus)


Sent = list[tuple[str, int, str]]  # (message id or Twilio sid, contact id, address)


def _sent_messages(context: DemoContext, limit: int = 400) -> tuple[Sent, Sent]:
    """Sent email and SMS messages (the demo campaign's when known); contacts by address when the ledger is empty."""
    campaign_id = context.campaign.id if context.campaign else None
    with session_scope(context.engine) as session:
        email = _ledger(session, "email", Contact.email, Message.id, campaign_id, limit)
        sms = _ledger(session, "sms", Contact.phone, func.coalesce(Message.provider_message_id, Message.id),
                      campaign_id, limit)
        if not email:
            rows = session.execute(select(Contact.id, Contact.email).where(Contact.email.is_not(None))
                                   .order_by(Contact.id).limit(60))
            email = [("", contact_id, str(address)) for contact_id, address in rows]
    return email, sms


def _ledger(session: Session, channel: str, address: Any, key: Any, campaign_id: int | None, limit: int) -> Sent:
    query = (select(key, Message.contact_id, address).join(Contact, Contact.id == Message.contact_id)
             .where(Message.channel == channel, Message.status == MessageStatus.SENT, address.is_not(None))
             .order_by(Message.id).limit(limit))
    if campaign_id is not None:
        query = query.where(Message.campaign_id == campaign_id)
    return [(str(row[0]), int(row[1]), str(row[2])) for row in session.execute(query)]


def _focus_contact(engine: Engine, email_messages: list[tuple[str, int, str]]) -> int | None:
    return email_messages[0][1] if email_messages else None


def _sg(kind: str, message_id: str, email: str, **extra: Any) -> dict[str, Any]:
    event = {"event": kind, "email": email, "timestamp": int(clock.now().timestamp()), "sg_event_id": uuid.uuid4().hex,
             "sg_message_id": f"demo{uuid.uuid4().hex[:12]}.filter", **extra}
    if message_id:
        event["message_id"] = message_id
    return event


def _email_responses(sim: Simulation, engine: Engine, messages: list[tuple[str, int, str]], focus: int | None) -> None:
    """Deliveries, bounces (hard and blocked), one complaint, opens (human and proxy), clicks, one-click unsubscribe."""
    events: list[dict[str, Any]] = []
    for index, (message_id, contact_id, email) in enumerate(messages):
        roll = sim.rng.random() if contact_id != focus else 0.5
        if index == 1:
            events.append(_sg("spamreport", message_id, email))
        if roll < 0.04:
            events.append(_sg("bounce", message_id, email, type="bounce", status="5.1.1", reason="550 no such user"))
            continue
        if roll < 0.06:
            events.append(_sg("bounce", message_id, email, type="blocked", status="5.7.1", reason="blocked"))
            continue
        events.append(_sg("delivered", message_id, email, response="250 OK"))
        if roll < 0.45 and message_id:
            agent = PROXY_AGENT if sim.rng.random() < 0.3 else HUMAN_AGENT
            sim.get(f"/t/o/{link_token(sim.settings, 'open', {'m': message_id})}", agent)
        if (roll < 0.15 or contact_id == focus) and message_id:
            url = "https://boutique.example.fr/printemps?utm_source=relance&utm_medium=email"
            sim.get(f"/t/c/{link_token(sim.settings, 'click', {'m': message_id, 'url': url})}")
    for start in range(0, len(events), 100):
        sim.sendgrid(events[start:start + 100])
    sim.sendgrid(events[:20])  # SendGrid retries a batch: duplicates change nothing
    if len(messages) > 3:
        message_id, contact_id, _ = messages[3]
        token = link_token(sim.settings, "unsubscribe", {"c": contact_id, "m": message_id or None})
        sim.post(f"/u/{token}", content=b"List-Unsubscribe=One-Click",
                 headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "Gmail one-click"})


def _sms_responses(sim: Simulation, engine: Engine, messages: list[tuple[str, int, str]]) -> None:
    """Status callbacks (delivered, undelivered, 21610) and inbound STOP / ARRET / HELP replies."""
    for index, (sid, _, phone) in enumerate(messages):
        base = {"MessageSid": sid, "To": phone, "From": "+33700000000", "AccountSid": "ACdemo"}
        if index % 25 == 7:
            sim.twilio("/webhooks/twilio/status", {**base, "MessageStatus": "failed", "ErrorCode": "21610"})
        elif index % 20 == 3:
            sim.twilio("/webhooks/twilio/status", {**base, "MessageStatus": "undelivered", "ErrorCode": "30003"})
        else:
            sim.twilio("/webhooks/twilio/status", {**base, "MessageStatus": "delivered"})
    with session_scope(engine) as session:
        numbers = [str(number) for number in session.scalars(
            select(Contact.phone).where(Contact.phone.is_not(None)).order_by(Contact.id).limit(3))]
    for number, body in zip(numbers, ("STOP", "Arrêt", "HELP"), strict=False):
        sim.twilio("/webhooks/twilio/inbound", {"MessageSid": f"SM{uuid.uuid4().hex}", "From": number,
                                                "To": "+33700000000", "Body": body})


def _leads_and_conversions(sim: Simulation, engine: Engine, messages: list[tuple[str, int, str]],
                           focus: int | None) -> None:
    headers = {"Referer": "https://www.example.fr/landing?utm_source=linkedin&utm_campaign=printemps",
               "User-Agent": HUMAN_AGENT}
    sim.post("/forms/demo-request", data={
        "email": "camille.roux@example.org", "first_name": "Camille", "last_name": "Roux", "company": "Roux Conseil",
        "phone": "06 55 44 33 22", "team_size": "11-50", "consent": "yes"}, headers=headers)
    sim.post("/forms/newsletter", data={"email": "hugo.petit@example.org", "consent": "on"}, headers=headers)
    sim.post("/forms/newsletter", data={"email": "bot@spam.example", "consent": "on", "website": "http://spam"})
    sim.post("/forms/demo-request", json={"email": "pas-un-email"})
    api = {"X-API-Key": sim.settings.api_key.get_secret_value() if sim.settings.api_key else ""}
    buyers = [(message_id, contact_id) for message_id, contact_id, _ in messages[:40:8]]
    if focus is not None:
        buyers.insert(0, (messages[0][0], focus))
    for index, (message_id, contact_id) in enumerate(buyers):
        payload = {"external_ref": f"demo-order-{contact_id}", "amount": f"{89 + 30 * index}.90", "currency": "EUR",
                   "contact_id": contact_id, "message_id": message_id or None}
        sim.post("/api/conversions", json=payload, headers=api)
        if index == 0:
            sim.post("/api/conversions", json=payload, headers=api)  # the shop retries: still one conversion


def _timeline_table(engine: Engine, contact_id: int | None, label: str) -> Table:
    table = Table(title=f"Timeline of contact #{contact_id} — {label}", show_lines=False)
    for column in ("when", "event", "details"):
        table.add_column(column)
    if contact_id is None:
        return table
    with session_scope(engine) as session:
        for event in reversed(timeline(session, contact_id, limit=12)):
            details = {k: v for k, v in (event.properties or {}).items()
                       if k in ("url", "machine", "bounce", "status", "form", "external_ref", "amount", "source")}
            table.add_row(event.occurred_at.strftime("%Y-%m-%d %H:%M"), event.type, json.dumps(details)[:70])
    return table


def _contact_effects(session: Session) -> dict[str, int]:
    def count(*conditions: Any, model: Any = Contact) -> int:
        return int(session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)

    return {"email addresses invalid": count(Contact.email_status == "invalid"),
            "suppressions": count(model=Suppression),
            "email consents withdrawn": count(Consent.channel == "email", Consent.status == "withdrawn", model=Consent),
            "SMS consents withdrawn": count(Consent.channel == "sms", Consent.status == "withdrawn", model=Consent),
            "consents pending (double opt-in)": count(Consent.status == "pending", model=Consent)}


def _report(context: DemoContext, sim: Simulation, summary: FeedbackSummary, mailbox: Any, elapsed: float,
            before: Table, focus: int | None, effects_before: dict[str, int]) -> None:
    console = context.console
    answers = Table(title="Signed requests through the endpoints (in-process)")
    answers.add_column("request → status")
    answers.add_column("count", justify="right")
    for key, value in sorted(sim.answers.items()):
        answers.add_row(key, str(value))
    console.print(answers)
    applied = Table(title=f"Applied by feedback.apply in {summary.seconds:.2f} s (total {elapsed:.1f} s)")
    applied.add_column("event type")
    applied.add_column("new events", justify="right")
    for kind, value in sorted(summary.by_type.items()):
        applied.add_row(kind, str(value))
    applied.add_row("[dim]duplicates ignored[/]", str(summary.duplicates))
    console.print(applied)
    with session_scope(context.engine) as session:
        effects = _contact_effects(session)
    changes = Table(title="What the responses changed")
    changes.add_column("ledger / contacts")
    changes.add_column("change", justify="right")
    for status, value in sorted(summary.messages.items()):
        changes.add_row(f"messages → {status}", str(value))
    for name, value in effects.items():
        changes.add_row(name, f"+{value - effects_before.get(name, 0)}")
    console.print(changes)
    console.print(f"Double opt-in emails sent: {len(mailbox.sent)}")
    if focus is not None:
        console.print(before)
        console.print(_timeline_table(context.engine, focus, "after"))
