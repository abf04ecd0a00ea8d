"""Twilio webhooks: X-Twilio-Signature (SDK vector, forged), status state machine, 21610, STOP/START/HELP."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from connectors.twilio_events import FormParams, keyword, verify_signature
from contacts.consent import Proof, is_suppressed, set_consent
from core.models import Consent, Contact, InboundRequest, Message
from core.settings import Settings
from tests.test_web_support import (
    apply,
    events_of,
    ledger,
    stored,
    twilio_post,
    web_fixture,  # noqa: F401 - the `web` fixture
)

# Twilio's published example (twilio-python tests/unit/test_request_validator.py and the security docs).
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
                 "From": "+14158675309", "To": "+18005551212"}
VECTOR_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_sdk_published_vector() -> None:
    params = FormParams.from_body(urlencode(VECTOR_PARAMS))
    assert verify_signature(VECTOR_URL, params, VECTOR_SIGNATURE, "12345")
    assert not verify_signature(VECTOR_URL, params, VECTOR_SIGNATURE, "54321")
    tampered = FormParams.from_body(urlencode({**VECTOR_PARAMS, "Digits": "1235"}))
    assert not verify_signature(VECTOR_URL, tampered, VECTOR_SIGNATURE, "12345")
    added = FormParams.from_body(urlencode({**VECTOR_PARAMS, "NewParam": "x"}))  # every parameter is signed
    assert not verify_signature(VECTOR_URL, added, VECTOR_SIGNATURE, "12345")
    assert not verify_signature(VECTOR_URL.replace("foo=1", "foo=2"), params, VECTOR_SIGNATURE, "12345")


@pytest.mark.parametrize(("text", "expected"), [
    ("STOP", "opt_out"), ("  stop ", "opt_out"), ("Stop.", "opt_out"), ("arrêt", "opt_out"), ("ARRET", "opt_out"),
    ("StopAll", "opt_out"), ("unsubscribe", "opt_out"), ("cancel", "opt_out"), ("END", "opt_out"),
    ("quit", "opt_out"), ("revoke", "opt_out"), ("optout", "opt_out"), ("START", "opt_in"), ("unstop", "opt_in"),
    ("yes", "opt_in"), ("help", "help"), ("INFO", "help"), ("Aide !", "help"), ("please stop calling", None),
    ("", None), ("stopper", None), (None, None),
])
def test_keywords(text: str | None, expected: str | None) -> None:
    assert keyword(text) == expected


def _status(message: Message, status: str, **extra: str) -> dict[str, str]:
    return {"MessageSid": message.provider_message_id or "", "MessageStatus": status, "To": "+33612000000",
            "From": "+33700000000", "AccountSid": "AC1", **extra}


def test_status_callbacks_follow_a_monotonic_state_machine(web: tuple[TestClient, Settings], engine: Engine,
                                                           session: Session) -> None:
    client, config = web
    _, (ok, failed, opted_out) = ledger(session, 3, channel="sms")
    for contact_id in (opted_out.contact_id,):
        set_consent(session, contact_id, "sms", "granted", Proof(source="test"))
    session.commit()
    path = "/webhooks/twilio/status"
    for params in (_status(ok, "sent"), _status(ok, "delivered"), _status(ok, "delivered"),
                   _status(failed, "undelivered", ErrorCode="30003"), _status(failed, "delivered"),
                   _status(opted_out, "failed", ErrorCode="21610")):
        assert twilio_post(client, path, params).status_code == 204
    summary = apply(engine, config)
    assert summary.new_events == 4 and summary.duplicates == 1 and summary.skipped == 1  # "sent" is intermediate
    session.expire_all()
    assert [session.get(Message, m.id).status for m in (ok, failed, opted_out)] == [  # type: ignore[union-attr]
        "delivered", "failed", "failed"]
    assert session.get(Message, failed.id).reason == "error_30003"  # type: ignore[union-attr]
    consent = session.query(Consent).filter_by(contact_id=opted_out.contact_id, channel="sms").one()
    assert consent.status == "withdrawn" and consent.source == "twilio: recipient opted out"
    assert session.get(Contact, ok.contact_id).sms_status == "valid"  # type: ignore[union-attr]
    assert {event.dedupe_key for event in events_of(session, "sms.delivered")} == {
        f"twilio:{ok.provider_message_id}:delivered", f"twilio:{failed.provider_message_id}:delivered"}


@pytest.mark.parametrize("case", ["forged", "missing", "wrong-url", "wrong-token", "extra-param"])
def test_forged_twilio_requests_get_403_and_store_nothing(web: tuple[TestClient, Settings], session: Session,
                                                          case: str) -> None:
    client, _ = web
    params = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    path = "/webhooks/twilio/status"
    if case == "wrong-url":
        response = twilio_post(client, path, params, public_url="https://evil.example")
    elif case == "wrong-token":
        response = twilio_post(client, path, params, token="other-token")
    elif case == "missing":
        response = client.post(path, data=params)
    else:
        from twilio.request_validator import RequestValidator

        from tests.test_web_support import TWILIO_TOKEN

        signature = RequestValidator(TWILIO_TOKEN).compute_signature(f"https://relance.test{path}", params)
        sent = {**params, "MessageStatus": "failed"} if case == "forged" else {**params, "Extra": "1"}
        response = client.post(path, data=sent, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert stored(session) == 0


def test_inbound_keywords_change_consent_with_proof(web: tuple[TestClient, Settings], engine: Engine,
                                                    session: Session) -> None:
    client, config = web
    contact = Contact(email="sms@example.com", phone="+33612345678")
    session.add(contact)
    session.flush()
    set_consent(session, contact.id, "sms", "granted", Proof(source="import"))
    session.commit()
    path = "/webhooks/twilio/inbound"
    reply = twilio_post(client, path, {"MessageSid": "SMin1", "From": "+33612345678", "To": "+33700000000",
                                       "Body": " Arrêt "})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/xml")
    assert "<Message>" not in reply.text
    apply(engine, config)
    session.expire_all()
    consent = session.query(Consent).filter_by(contact_id=contact.id, channel="sms").one()
    assert consent.status == "withdrawn" and (consent.source or "").startswith("sms:")
    received = events_of(session, "sms.received")[0]
    assert received.contact_id == contact.id and received.properties["keyword"] == "opt_out"
    twilio_post(client, path, {"MessageSid": "SMin2", "From": "+33612345678", "To": "+33700000000", "Body": "start"})
    apply(engine, config)
    session.expire_all()
    assert session.query(Consent).filter_by(contact_id=contact.id, channel="sms").one().status == "granted"


def test_help_answers_with_twiml_and_unknown_stop_is_suppressed(web: tuple[TestClient, Settings], engine: Engine,
                                                                session: Session) -> None:
    client, config = web
    path = "/webhooks/twilio/inbound"
    reply = twilio_post(client, path, {"MessageSid": "SMh", "From": "+33699999999", "To": "+337", "Body": "HELP"})
    assert "<Message>" in reply.text and "STOP" in reply.text
    twilio_post(client, path, {"MessageSid": "SMs", "From": "+33699999999", "To": "+337", "Body": "STOP"})
    summary = apply(engine, config)
    assert summary.new_events == 2
    assert is_suppressed(session, "sms", "+33699999999")
    twilio_post(client, path, {"MessageSid": "SMy", "From": "+33699999999", "To": "+337", "Body": "YES"})
    apply(engine, config)
    assert not is_suppressed(session, "sms", "+33699999999")


def test_help_reply_speaks_the_contact_language(web: tuple[TestClient, Settings], session: Session) -> None:
    client, _ = web
    session.add_all([Contact(phone="+447911123456", language="en"), Contact(phone="+33611111111", language="fr")])
    session.commit()
    path = "/webhooks/twilio/inbound"
    english = twilio_post(client, path, {"MessageSid": "SMe", "From": "+447911123456", "To": "+337", "Body": "info"})
    french = twilio_post(client, path, {"MessageSid": "SMf", "From": "+33611111111", "To": "+337", "Body": "Aide"})
    assert "reply STOP to unsubscribe" in english.text
    assert "répondez STOP" in french.text


def test_malformed_twilio_bodies(web: tuple[TestClient, Settings], session: Session) -> None:
    client, _ = web
    for path in ("/webhooks/twilio/status", "/webhooks/twilio/inbound"):
        response = twilio_post(client, path, {"Body": "x"})  # validly signed, but no sid / sender
        assert response.status_code == 400
        bad = client.post(path, content=b"\xff\xfe=\x00", headers={"X-Twilio-Signature": "x",
                                                                   "Content-Type": "application/x-www-form-urlencoded"})
        assert bad.status_code in (400, 403)
    assert session.query(InboundRequest).count() == 0
