"""Conversions API (API key, idempotent external ref, revenue on the timeline) and the health check."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.models import ContactEventStat, Conversion, Event
from core.settings import Settings
from tests.helpers import run_cli
from tests.test_web_support import (
    API_KEY,
    ledger,
    web_fixture,  # noqa: F401 - the `web` fixture
)


def test_conversion_is_recorded_once_per_external_ref(web: tuple[TestClient, Settings], session: Session) -> None:
    client, _ = web
    campaign, (message,) = ledger(session, 1)
    payload = {"external_ref": "order-1001", "amount": "149.90", "currency": "eur", "contact_id": message.contact_id,
               "message_id": message.id, "occurred_at": "2026-03-01T10:00:00+01:00", "properties": {"sku": "A1"}}
    first = client.post("/api/conversions", json=payload, headers={"X-API-Key": API_KEY})
    assert first.status_code == 201 and first.json()["created"] is True
    again = client.post("/api/conversions", json={**payload, "amount": "999"},
                        headers={"Authorization": f"Bearer {API_KEY}"})
    assert again.status_code == 200 and again.json() == {**first.json(), "created": False}
    conversion = session.query(Conversion).one()
    assert (conversion.amount, conversion.currency, conversion.campaign_id) == (Decimal("149.90"), "EUR", campaign.id)
    assert conversion.occurred_at.isoformat() == "2026-03-01T09:00:00+00:00"
    event = session.query(Event).filter_by(type="conversion").one()
    assert event.dedupe_key == "conversion:order-1001" and event.message_id == message.id
    stat = session.get(ContactEventStat, (message.contact_id, "conversion"))
    assert stat is not None and stat.total == Decimal("149.90") and stat.count == 1


def test_conversion_finds_the_contact_by_email_or_phone(web: tuple[TestClient, Settings], session: Session) -> None:
    client, _ = web
    _, (message,) = ledger(session, 1, email="buyer@example.com", phone="+33611223344")
    headers = {"X-API-Key": API_KEY}
    by_email = client.post("/api/conversions", json={"external_ref": "e1", "amount": 10, "currency": "EUR",
                                                     "email": " buyer@example.COM"}, headers=headers)
    by_phone = client.post("/api/conversions", json={"external_ref": "p1", "amount": 10, "currency": "EUR",
                                                     "phone": "06 11 22 33 44"}, headers=headers)
    nobody = client.post("/api/conversions", json={"external_ref": "n1", "amount": 10, "currency": "EUR",
                                                   "email": "ghost@example.com"}, headers=headers)
    assert by_email.json()["contact_id"] == by_phone.json()["contact_id"] == message.contact_id
    assert nobody.status_code == 201 and nobody.json()["contact_id"] is None  # revenue kept, unattributed


def test_conversions_need_a_valid_key_and_a_valid_body(web: tuple[TestClient, Settings], session: Session) -> None:
    client, _ = web
    good = {"external_ref": "x", "amount": "1.00", "currency": "EUR"}
    assert client.post("/api/conversions", json=good).status_code == 401
    assert client.post("/api/conversions", json=good, headers={"X-API-Key": "wrong"}).status_code == 403
    headers = {"X-API-Key": API_KEY}
    for bad in ({**good, "currency": "EURO"}, {**good, "amount": "abc"}, {**good, "amount": "NaN"},
                {**good, "unknown": 1}, {"amount": "1"}, {**good, "amount": "1.001"}):
        response = client.post("/api/conversions", json=bad, headers=headers)
        assert response.status_code == 422 and response.json()["errors"], bad
    assert client.post("/api/conversions", content=b"{nope", headers={**headers, "Content-Type":
                                                                      "application/json"}).status_code == 422
    assert session.query(Conversion).count() == 0


def test_api_disabled_without_a_configured_key(engine: object, settings: Settings) -> None:
    from tests.test_web_support import make_client

    with make_client(engine, settings) as client:  # type: ignore[arg-type]
        response = client.post("/api/conversions", json={"external_ref": "x", "amount": 1, "currency": "EUR"},
                               headers={"X-API-Key": "anything"})
        assert response.status_code == 403


def test_health(web: tuple[TestClient, Settings]) -> None:
    client, _ = web
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "pending_feedback": 0, "applier": False}
    assert response.headers["x-content-type-options"] == "nosniff"


def test_serve_refuses_to_start_with_a_misconfigured_channel(cli_env: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.settings import get_settings

    monkeypatch.setenv("RELANCE_CHANNELS", '{"email": {"backend": "sendgrid", "options": {}}}')
    get_settings.cache_clear()
    result = run_cli("serve", "--port", "1")
    output = " ".join(result.output.split())
    assert result.exit_code == 1 and "channel 'email': sendgrid backend needs an `api_key` option" in output
    monkeypatch.setenv("RELANCE_CHANNELS", '{"email": {"backend": "sendgrid", "options": {"api_key": "k", "hots": 1}}}')
    get_settings.cache_clear()
    result = run_cli("serve", "--port", "1")
    assert result.exit_code == 1 and "no option 'hots'" in " ".join(result.output.split())
