"""Fuzzing the public endpoints with hypothesis: whatever arrives, no 500 and nothing stored unless verified."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from core.models import Contact, InboundRequest
from core.settings import Settings as RelanceSettings
from tests.test_web_support import API_KEY, SIGNER, make_client, web_settings

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
PATHS = ["/webhooks/sendgrid", "/webhooks/twilio/status", "/webhooks/twilio/inbound", "/forms/demo-request",
         "/forms/newsletter", "/api/conversions"]
CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz",
                 "text/plain", ""]
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
                           lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.text(max_size=12), children, max_size=4), max_leaves=12)


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """Fuzzing exercises the HTTP layer: one database is enough (the DB logic is tested on both elsewhere)."""
    return str(request.param)


@pytest.fixture
def fuzz_client(engine: Engine, settings: RelanceSettings) -> Iterator[TestClient]:
    with make_client(engine, web_settings(settings, form_rate_limit=10_000)) as client:
        yield client


def _stored(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(InboundRequest)) or 0)


@FUZZ
@given(path=st.sampled_from(PATHS), body=st.binary(max_size=400), content_type=st.sampled_from(CONTENT_TYPES),
       signature=st.none() | st.text(max_size=60))
def test_random_bodies_never_500_and_unsigned_webhooks_store_nothing(
        fuzz_client: TestClient, engine: Engine, path: str, body: bytes, content_type: str,
        signature: str | None) -> None:
    headers = {"Content-Type": content_type, "X-API-Key": API_KEY}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature.encode("ascii", "ignore").decode()
        headers["X-Twilio-Email-Event-Webhook-Signature"] = headers["X-Twilio-Signature"]
        headers["X-Twilio-Email-Event-Webhook-Timestamp"] = "1700000000"
    response = fuzz_client.post(path, content=body, headers=headers)
    assert response.status_code < 500, response.text
    if path.startswith("/webhooks"):
        assert response.status_code in (400, 403, 413, 422)
        assert _stored(engine) == 0


@FUZZ
@given(events=st.lists(st.dictionaries(
    st.sampled_from(["event", "email", "timestamp", "sg_event_id", "message_id", "type", "status", "url",
                     "useragent", "sg_message_id", "reason"]), json_values, max_size=8), max_size=6))
def test_signed_sendgrid_junk_is_accepted_and_applied_without_errors(
        fuzz_client: TestClient, engine: Engine, settings: RelanceSettings, events: list[dict[str, object]]) -> None:
    from feedback.apply import apply_all

    body = json.dumps(events).encode()
    response = fuzz_client.post("/webhooks/sendgrid", content=body, headers=SIGNER.headers(body))
    assert response.status_code == 200
    summary = apply_all(engine, web_settings(settings))
    assert summary.failed_requests == 0


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(["email", "first_name", "last_name", "company", "phone", "team_size",
                                               "message", "consent", "utm_source", "referrer", "website", "x"]),
                              st.text(max_size=80), max_size=10),
       as_json=st.booleans())
def test_form_submissions_never_500(fuzz_client: TestClient, engine: Engine, fields: dict[str, str],
                                    as_json: bool) -> None:
    before = _contacts(engine)
    if as_json:
        response = fuzz_client.post("/forms/demo-request", json=fields)
    else:
        response = fuzz_client.post("/forms/demo-request", data=fields, follow_redirects=False)
    assert response.status_code in (200, 303, 400, 422), response.text
    if response.status_code in (400, 422) or fields.get("website"):
        assert _contacts(engine) == before


def _contacts(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(Contact)) or 0)
