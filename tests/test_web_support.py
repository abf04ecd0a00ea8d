"""Shared builders for the web/feedback tests: signing keys, signed requests, a ledger to receive feedback."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from connectors.memory import MemoryBackend
from core.models import Campaign, Contact, Event, InboundRequest, Message
from core.settings import Settings
from feedback.apply import FeedbackSummary, apply_all
from web.app import create_app

FORMS_DIR = Path(__file__).resolve().parent.parent / "examples" / "forms"
TWILIO_TOKEN = "twilio-test-token"
API_KEY = "api-test-key"


class SendGridSigner:
    """A P-256 key pair like SendGrid's: signs timestamp + raw body, exposes the public key as configured."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        der = self.private.public_key().public_bytes(serialization.Encoding.DER,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public_key = base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = self.private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                "X-Twilio-Email-Event-Webhook-Timestamp": stamp, "Content-Type": "application/json"}


SIGNER = SendGridSigner()


def web_settings(settings: Settings, **overrides: Any) -> Settings:
    """The test settings with webhook secrets, the example forms and an API key."""
    values: dict[str, Any] = {
        "sendgrid_webhook_public_key": SIGNER.public_key, "twilio_auth_token": TWILIO_TOKEN, "api_key": API_KEY,
        "forms_dir": FORMS_DIR, **overrides,
    }
    return Settings(**{**settings.model_dump(), **values}, _env_file=None)


def make_client(engine: Engine, settings: Settings, **kwargs: Any) -> TestClient:
    """A TestClient on an app without the background applier (tests apply explicitly)."""
    return TestClient(create_app(settings, engine=engine, background=False, **kwargs))


@pytest.fixture(name="web")
def web_fixture(engine: Engine, settings: Settings) -> Iterator[tuple[TestClient, Settings]]:
    """A client and its settings."""
    config = web_settings(settings)
    with make_client(engine, config) as client:
        yield client, config


@pytest.fixture
def mailbox() -> MemoryBackend:
    """An in-memory email backend to read double opt-in emails from."""
    return MemoryBackend("email")


def sendgrid_post(client: TestClient, events: list[dict[str, Any]], *, timestamp: int | None = None,
                  signer: SendGridSigner = SIGNER) -> Any:
    body = json.dumps(events).encode()
    return client.post("/webhooks/sendgrid", content=body, headers=signer.headers(body, timestamp))


def twilio_post(client: TestClient, path: str, params: dict[str, str], *, token: str = TWILIO_TOKEN,
                public_url: str = "https://relance.test") -> Any:
    signature = RequestValidator(token).compute_signature(f"{public_url}{path}", params)
    return client.post(path, content=urlencode(params).encode(),
                       headers={"X-Twilio-Signature": signature,
                                "Content-Type": "application/x-www-form-urlencoded"})


def ledger(session: Session, count: int = 1, *, channel: str = "email", status: str = "sent",
           **contact_fields: Any) -> tuple[Campaign, list[Message]]:
    """A campaign with `count` contacts and their sent messages."""
    campaign = Campaign(name=f"spring-{uuid.uuid4().hex[:6]}", channels=[channel])
    session.add(campaign)
    session.flush()
    messages = []
    for index in range(count):
        fields = {"email": f"person{index}-{uuid.uuid4().hex[:4]}@example.com", "phone": f"+336120000{index:02d}",
                  **contact_fields}
        contact = Contact(**fields)
        session.add(contact)
        session.flush()
        message = Message(id=str(uuid.uuid4()), campaign_id=campaign.id, contact_id=contact.id, channel=channel,
                          status=status, provider="sendgrid" if channel == "email" else "twilio",
                          provider_message_id=f"SM{uuid.uuid4().hex}" if channel == "sms" else uuid.uuid4().hex[:22])
        session.add(message)
        messages.append(message)
    session.commit()
    return campaign, messages


def sg_event(kind: str, message: Message | None, email: str | None, **extra: Any) -> dict[str, Any]:
    """A SendGrid event as the webhook posts it (custom arg message_id at the top level)."""
    event = {"email": email, "timestamp": int(time.time()), "event": kind, "sg_event_id": uuid.uuid4().hex,
             "sg_message_id": f"{message.provider_message_id if message else 'x'}.filter0001", **extra}
    if message is not None:
        event["message_id"] = message.id
    return event


def apply(engine: Engine, settings: Settings) -> FeedbackSummary:
    return apply_all(engine, settings)


def count(session: Session, model: Any, *conditions: Any) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


def events_of(session: Session, kind: str) -> list[Event]:
    session.expire_all()
    return list(session.scalars(select(Event).where(Event.type == kind).order_by(Event.id)))


def stored(session: Session) -> int:
    return count(session, InboundRequest)
