"""Open pixel and click redirect: signed tokens, no open redirect, machine agents flagged, applied idempotently."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.links import link_token
from core.models import ContactEventStat, InboundRequest
from core.settings import Settings
from tests.test_web_support import (
    apply,
    events_of,
    ledger,
    stored,
    web_fixture,  # noqa: F401 - the `web` fixture
)

HUMAN = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari"


def test_open_pixel_records_opens_and_flags_machines(web: tuple[TestClient, Settings], engine: Engine,
                                                     session: Session) -> None:
    client, config = web
    campaign, (message,) = ledger(session, 1)
    token = link_token(config, "open", {"m": message.id})
    for agent in (HUMAN, "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
                  "Barracuda Sentinel (EE)", ""):
        response = client.get(f"/t/o/{token}", headers={"User-Agent": agent})
        assert response.status_code == 200 and response.headers["content-type"] == "image/gif"
        assert response.content.startswith(b"GIF89a") and "no-store" in response.headers["cache-control"]
    assert stored(session) == 4
    apply(engine, config)
    opens = events_of(session, "email.opened")
    assert [event.properties["machine"] for event in opens] == [False, True, True, True]
    assert {(event.campaign_id, event.message_id, event.contact_id) for event in opens} == {
        (campaign.id, message.id, message.contact_id)}
    assert apply(engine, config).requests == 0  # applied once
    stat = session.get(ContactEventStat, (message.contact_id, "email.opened"))
    assert stat is not None and stat.count == 1  # machine opens are on the timeline, not in the engagement stats


def test_click_redirects_only_to_the_signed_destination(web: tuple[TestClient, Settings], engine: Engine,
                                                        session: Session) -> None:
    client, config = web
    _, (message,) = ledger(session, 1)
    destination = "https://shop.example.com/soldes?utm_source=relance&utm_medium=email"
    token = link_token(config, "click", {"m": message.id, "url": destination})
    response = client.get(f"/t/c/{token}", headers={"User-Agent": HUMAN}, follow_redirects=False)
    assert response.status_code == 302 and response.headers["location"] == destination
    # Query parameters cannot change where it goes.
    response = client.get(f"/t/c/{token}?url=https://evil.example", follow_redirects=False)
    assert response.headers["location"] == destination
    apply(engine, config)
    clicks = events_of(session, "email.clicked")
    assert len(clicks) == 2 and clicks[0].properties["url"] == destination and clicks[0].message_id == message.id
    assert clicks[0].properties["machine"] is False


@pytest.mark.parametrize("mutation", ["tampered-payload", "tampered-mac", "other-purpose", "garbage", "javascript"])
def test_bad_click_tokens_get_404_and_store_nothing(web: tuple[TestClient, Settings], session: Session,
                                                    mutation: str) -> None:
    client, config = web
    good = link_token(config, "click", {"m": "m1", "url": "https://example.com/"})
    body, _, mac = good.partition(".")
    token = {
        "tampered-payload": link_token(config, "click", {"m": "m1", "url": "https://evil.example/"}).split(".")[0]
        + "." + mac,
        "tampered-mac": body + "." + ("A" if mac[0] != "A" else "B") + mac[1:],
        "other-purpose": link_token(config, "open", {"m": "m1", "url": "https://evil.example/"}),
        "garbage": "not-a-token",
        "javascript": link_token(config, "click", {"m": "m1", "url": "javascript:alert(1)"}),
    }[mutation]
    response = client.get(f"/t/c/{token}", follow_redirects=False)
    assert response.status_code == 404 and "location" not in response.headers
    assert client.get(f"/t/o/{token}").status_code == 404 or mutation == "other-purpose"
    assert session.query(InboundRequest).filter_by(provider="click").count() == 0
