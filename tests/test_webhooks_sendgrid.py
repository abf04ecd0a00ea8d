"""SendGrid Event Webhook: signatures (SDK vector, forged, replayed), storage, and applying events to the ledger."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from connectors import sendgrid_events
from connectors.sendgrid_events import WebhookRejected, parse_events, verify_signature
from contacts.consent import is_suppressed
from core.models import Consent, Contact, InboundRequest, Message
from core.settings import Settings
from tests.test_web_support import (
    SendGridSigner,
    apply,
    count,
    events_of,
    ledger,
    sendgrid_post,
    sg_event,
    stored,
    web_fixture,  # noqa: F401 - the `web` fixture
)

# The SDK's own published vector (sendgrid-python test/unit/test_eventwebhook.py): verifies only with "\r\n" kept.
VECTOR_KEY = ("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaI"
              "NXvVpiglSI8eNEc6wEA3F+g==")
VECTOR_SIGNATURE = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
VECTOR_TIMESTAMP = "1600112502"
VECTOR_BODY = (json.dumps([{
    "email": "hello@world.com", "event": "dropped", "reason": "Bounced Address",
    "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
    "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
    "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>", "timestamp": 1600112492,
}], sort_keys=True, separators=(",", ":")) + "\r\n").encode()
VECTOR_TIME = datetime.fromtimestamp(1600112502 + 5, UTC)


def test_sdk_published_vector_verifies_over_the_raw_body_with_its_trailing_crlf() -> None:
    verify_signature(VECTOR_BODY, VECTOR_SIGNATURE, VECTOR_TIMESTAMP, VECTOR_KEY, now=VECTOR_TIME, window=60)
    with pytest.raises(WebhookRejected):  # re-serialised (CRLF dropped) the same JSON no longer verifies
        verify_signature(VECTOR_BODY.rstrip(), VECTOR_SIGNATURE, VECTOR_TIMESTAMP, VECTOR_KEY, now=VECTOR_TIME,
                         window=60)
    events, skipped = parse_events(VECTOR_BODY)
    assert skipped == 0 and events[0].type == "email.dropped"
    assert events[0].dedupe_key == "sendgrid:ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA"


@pytest.mark.parametrize("change", ["signature", "timestamp", "key", "body"])
def test_sdk_vector_rejects_any_tampering(change: str) -> None:
    args: dict[str, Any] = {"body": VECTOR_BODY, "signature": VECTOR_SIGNATURE, "timestamp": VECTOR_TIMESTAMP,
                            "key": VECTOR_KEY}
    args[change] = {"signature": "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nl"
                                 "xFDWYNH3j/0=",
                    "timestamp": "1600112503", "key": SendGridSigner().public_key,
                    "body": VECTOR_BODY.replace(b"dropped", b"delivrd")}[change]
    with pytest.raises(WebhookRejected) as raised:
        verify_signature(args["body"], args["signature"], args["timestamp"], args["key"], now=VECTOR_TIME, window=60)
    assert raised.value.status == 403


def test_replay_window_refuses_old_and_future_timestamps() -> None:
    with pytest.raises(WebhookRejected, match="replay"):
        verify_signature(VECTOR_BODY, VECTOR_SIGNATURE, VECTOR_TIMESTAMP, VECTOR_KEY,
                         now=datetime.fromtimestamp(1600112502 + 601, UTC), window=600)
    with pytest.raises(WebhookRejected, match="replay"):
        verify_signature(VECTOR_BODY, VECTOR_SIGNATURE, VECTOR_TIMESTAMP, VECTOR_KEY,
                         now=datetime.fromtimestamp(1600112502 - 601, UTC), window=600)


def test_event_types_are_normalised() -> None:
    extras: list[tuple[str, dict[str, Any]]] = [
        ("processed", {}), ("delivered", {"response": "250 OK"}), ("deferred", {"attempt": "2"}),
        ("bounce", {"type": "bounce", "status": "5.1.1"}), ("bounce", {"type": "blocked", "status": "5.7.1"}),
        ("open", {"useragent": "GoogleImageProxy"}), ("click", {"url": "https://x.fr"}), ("spamreport", {}),
        ("unsubscribe", {}), ("group_unsubscribe", {"asm_group_id": 7}), ("group_resubscribe", {}),
        ("mystery", {})]
    raw = [{"event": name, "sg_event_id": name, "timestamp": 1700000000, "email": "a@b.fr", "message_id": "m1",
            **extra} for name, extra in extras]
    for index, item in enumerate(raw):
        item["sg_event_id"] = f"id{index}"
    events, skipped = parse_events(json.dumps(raw))
    assert skipped == 1
    assert [event.type for event in events] == [
        "email.processed", "email.delivered", "email.deferred", "email.bounced", "email.bounced", "email.opened",
        "email.clicked", "email.complained", "email.unsubscribed", "email.unsubscribed", "email.resubscribed"]
    assert [events[3].properties["bounce"], events[4].properties["bounce"]] == ["hard", "blocked"]
    assert all(event.message_id == "m1" for event in events)
    assert events[0].occurred_at == datetime.fromtimestamp(1700000000, UTC)


def test_signed_batch_is_stored_raw_and_acknowledged(web: tuple[TestClient, Settings], session: Session) -> None:
    client, _ = web
    body = b'[{"event":"delivered","sg_event_id":"e1","email":"a@b.fr","timestamp":1700000000}]\r\n'
    response = client.post("/webhooks/sendgrid", content=body, headers=SendGridSigner().headers(body))
    assert response.status_code == 403  # signed with another key
    from tests.test_web_support import SIGNER

    response = client.post("/webhooks/sendgrid", content=body, headers=SIGNER.headers(body))
    assert response.status_code == 200 and response.json() == {"accepted": 1}
    row = session.query(InboundRequest).one()
    assert row.body.encode() == body and row.status == "pending" and row.provider == "sendgrid"


@pytest.mark.parametrize("case", ["forged", "missing", "replayed", "bad-base64", "malformed-json", "not-array",
                                  "oversized"])
def test_refused_requests_store_nothing(web: tuple[TestClient, Settings], session: Session, case: str) -> None:
    client, config = web
    body = b'[{"event":"open","sg_event_id":"e2","email":"a@b.fr"}]'
    from tests.test_web_support import SIGNER

    headers = SIGNER.headers(body)
    expected = 403
    if case == "forged":
        body = body.replace(b"open", b"click")
    elif case == "missing":
        headers = {"Content-Type": "application/json"}
    elif case == "replayed":
        headers = SIGNER.headers(body, int(time.time()) - config.webhook_replay_window - 5)
    elif case == "bad-base64":
        headers["X-Twilio-Email-Event-Webhook-Signature"] = "%%%not base64"
    elif case in ("malformed-json", "not-array"):
        body = b'[{"event": "open",' if case == "malformed-json" else b'{"event": "open"}'
        headers, expected = SIGNER.headers(body), 400
    elif case == "oversized":
        body = b"[" + b" " * (config.webhook_max_body_bytes + 10) + b"]"
        headers, expected = SIGNER.headers(body), 413
    response = client.post("/webhooks/sendgrid", content=body, headers=headers)
    assert response.status_code == expected, response.text
    assert stored(session) == 0


def test_unconfigured_key_refuses_everything(engine: Engine, settings: Settings, session: Session) -> None:
    from tests.test_web_support import make_client

    with make_client(engine, settings) as client:
        body = b"[]"
        from tests.test_web_support import SIGNER

        assert client.post("/webhooks/sendgrid", content=body, headers=SIGNER.headers(body)).status_code == 403
    assert stored(session) == 0


def test_events_update_ledger_and_contacts(web: tuple[TestClient, Settings], engine: Engine,
                                           session: Session) -> None:
    client, config = web
    _, messages = ledger(session, 5)
    delivered, hard, complained, unsubscribed, opened = messages
    emails = {m.id: session.get(Contact, m.contact_id).email for m in messages}  # type: ignore[union-attr]
    batch = [sg_event("delivered", m, emails[m.id]) for m in messages]
    batch += [sg_event("bounce", hard, emails[hard.id], type="bounce", status="5.1.1", reason="no such user"),
              sg_event("spamreport", complained, emails[complained.id]),
              sg_event("unsubscribe", unsubscribed, emails[unsubscribed.id]),
              sg_event("open", opened, emails[opened.id], useragent="Mozilla/5.0 (iPhone) AppleWebKit"),
              sg_event("open", opened, emails[opened.id], useragent="Mozilla/5.0 GoogleImageProxy"),
              sg_event("click", opened, emails[opened.id], url="https://shop.example.com/p/1",
                       useragent="Mozilla/5.0 (Windows NT 10.0)")]
    assert sendgrid_post(client, batch).status_code == 200
    summary = apply(engine, config)
    assert summary.new_events == len(batch) and summary.duplicates == 0
    session.expire_all()
    assert session.get(Message, delivered.id).status == "delivered"  # type: ignore[union-attr]
    assert session.get(Message, hard.id).status == "bounced"  # type: ignore[union-attr]
    hard_contact = session.get(Contact, hard.contact_id)
    assert hard_contact is not None and hard_contact.email_status == "invalid"
    assert is_suppressed(session, "email", emails[hard.id] or "")
    assert is_suppressed(session, "email", emails[complained.id] or "")
    assert session.get(Contact, delivered.contact_id).email_status == "valid"  # type: ignore[union-attr]
    for message in (complained, unsubscribed):
        consent = session.query(Consent).filter_by(contact_id=message.contact_id, channel="email").one()
        assert consent.status == "withdrawn" and (consent.source or "").startswith("sendgrid:")
    opens = events_of(session, "email.opened")
    assert sorted(event.properties["machine"] for event in opens) == [False, True]
    assert all(event.campaign_id == opened.campaign_id and event.message_id == opened.id for event in opens)
    assert events_of(session, "email.clicked")[0].properties["url"] == "https://shop.example.com/p/1"
    assert session.query(InboundRequest).one().status == "applied"


def test_duplicated_batches_and_late_delivered_are_harmless(web: tuple[TestClient, Settings], engine: Engine,
                                                            session: Session) -> None:
    client, config = web
    _, (message,) = ledger(session, 1)
    email = session.get(Contact, message.contact_id).email  # type: ignore[union-attr]
    bounce = sg_event("bounce", message, email, type="bounce", status="5.1.1")
    for _ in range(40):  # SendGrid retries: the same event delivered 40 times
        assert sendgrid_post(client, [bounce]).status_code == 200
    summary = apply(engine, config)
    assert summary.requests == 40 and summary.new_events == 1 and summary.duplicates == 39
    late = sg_event("delivered", message, email)
    assert sendgrid_post(client, [late, late]).status_code == 200
    assert apply(engine, config).new_events == 1
    session.expire_all()
    assert session.get(Message, message.id).status == "bounced"  # type: ignore[union-attr]
    assert len(events_of(session, "email.bounced")) == 1
    again = apply(engine, config)
    assert again.requests == 0


def test_soft_bounces_suppress_after_the_configured_count(web: tuple[TestClient, Settings], engine: Engine,
                                                          session: Session) -> None:
    client, config = web
    _, messages = ledger(session, 1)
    contact = session.get(Contact, messages[0].contact_id)
    assert contact is not None
    email = contact.email or ""
    for attempt in range(config.soft_bounce_limit):
        sendgrid_post(client, [sg_event("bounce", messages[0], email, type="blocked", status="5.7.1")])
        apply(engine, config)
        session.expire_all()
        reached = attempt + 1 >= config.soft_bounce_limit
        assert (session.get(Contact, contact.id).email_status == "invalid") is reached  # type: ignore[union-attr]
        assert is_suppressed(session, "email", email) is reached


def test_unknown_message_ids_are_kept_without_failing_the_batch(web: tuple[TestClient, Settings], engine: Engine,
                                                                 session: Session) -> None:
    client, config = web
    _, (message,) = ledger(session, 1)
    email = session.get(Contact, message.contact_id).email  # type: ignore[union-attr]
    batch = [sg_event("delivered", message, email),
             {**sg_event("open", None, email), "message_id": "00000000-0000-0000-0000-000000000000"},
             {**sg_event("click", None, "stranger@nowhere.example"), "message_id": "not-ours"}]
    sendgrid_post(client, batch)
    summary = apply(engine, config)
    assert summary.new_events == 3 and summary.unknown_messages == 2 and summary.failed_requests == 0
    opened = events_of(session, "email.opened")[0]
    assert opened.message_id is None and opened.contact_id == message.contact_id
    assert opened.properties["unknown_message_id"] == "00000000-0000-0000-0000-000000000000"
    assert events_of(session, "email.clicked")[0].contact_id is None
    assert count(session, InboundRequest, InboundRequest.status == "applied") == 1


def test_a_stored_request_that_cannot_be_parsed_is_marked_failed_alone(engine: Engine, settings: Settings,
                                                                        session: Session) -> None:
    from feedback.apply import store_request

    store_request(engine, "sendgrid", "not json", {})
    store_request(engine, "sendgrid", json.dumps([{"event": "delivered", "sg_event_id": "ok1", "email": "x@y.fr"}]),
                  {})
    summary = apply(engine, settings)
    assert summary.requests == 2 and summary.failed_requests == 1 and summary.new_events == 1
    failed = session.query(InboundRequest).filter_by(status="failed").one()
    assert "JSON" in (failed.error or "")


def test_module_constants_match_the_provider_contract() -> None:
    assert sendgrid_events.SIGNATURE_HEADER == "X-Twilio-Email-Event-Webhook-Signature"
    assert sendgrid_events.TIMESTAMP_HEADER == "X-Twilio-Email-Event-Webhook-Timestamp"
