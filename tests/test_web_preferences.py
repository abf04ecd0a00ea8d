"""Unsubscribe (RFC 8058 one-click and page), preference centre, double opt-in confirmation, languages."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts.consent import Proof, set_consent
from core import clock
from core.links import link_token
from core.models import Consent, Contact, Event
from core.settings import Settings
from tests.test_web_support import (
    events_of,
    ledger,
    web_fixture,  # noqa: F401 - the `web` fixture
)


def _consents(session: Session, contact_id: int) -> dict[tuple[str, str], str]:
    session.expire_all()
    rows = session.execute(select(Consent.channel, Consent.topic, Consent.status)
                           .where(Consent.contact_id == contact_id)).all()
    return {(channel, topic): status for channel, topic, status in rows}


def _subscribed(session: Session, **fields: object) -> Contact:
    contact = Contact(email="claire@example.fr", phone="+33612345678", address_line1="3 rue des Lilas",
                      postcode="69003", city="Lyon", **fields)
    session.add(contact)
    session.flush()
    for channel in ("email", "sms"):
        set_consent(session, contact.id, channel, "granted", Proof(source="import"))
    session.commit()
    return contact


def test_one_click_unsubscribe_rfc8058(web: tuple[TestClient, Settings], session: Session) -> None:
    client, config = web
    campaign, (message,) = ledger(session, 1)
    set_consent(session, message.contact_id, "email", "granted", Proof(source="import"))
    session.commit()
    token = link_token(config, "unsubscribe", {"c": message.contact_id, "m": message.id})
    response = client.post(f"/u/{token}", content=b"List-Unsubscribe=One-Click",
                           headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "Gmail"})
    assert response.status_code == 200
    consents = session.scalars(select(Consent).where(Consent.contact_id == message.contact_id)).all()
    assert [(c.channel, c.status, c.source, c.user_agent) for c in consents] == [
        ("email", "withdrawn", "one-click", "Gmail")]
    event = events_of(session, "email.unsubscribed")[0]
    assert event.campaign_id == campaign.id and event.message_id == message.id
    # RFC 8058 also allows multipart bodies; mailbox providers may POST twice: harmless.
    multipart = client.post(f"/u/{token}", files={"List-Unsubscribe": (None, "One-Click")})
    assert multipart.status_code == 200 and multipart.text == "unsubscribed"
    assert client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert len(events_of(session, "email.unsubscribed")) == 1


def test_unsubscribe_page_changes_nothing_until_the_button(web: tuple[TestClient, Settings], session: Session) -> None:
    client, config = web
    contact = _subscribed(session, language="en")
    token = link_token(config, "unsubscribe", {"c": contact.id, "m": None})
    page = client.get(f"/u/{token}")
    assert page.status_code == 200 and 'lang="en"' in page.text and "c***@example.fr" in page.text
    assert "claire@example.fr" not in page.text and "Unsubscribe me from emails" in page.text
    assert _consents(session, contact.id)[("email", "marketing")] == "granted"
    done = client.post(f"/u/{token}", data={"action": "unsubscribe"})
    assert done.status_code == 200 and "Done" in done.text
    assert _consents(session, contact.id)[("email", "marketing")] == "withdrawn"
    assert _consents(session, contact.id)[("sms", "marketing")] == "granted"


def test_preference_centre_channels_topics_and_pause(web: tuple[TestClient, Settings], session: Session) -> None:
    client, config = web
    contact = _subscribed(session, language="fr")
    token = link_token(config, "unsubscribe", {"c": contact.id, "m": None})
    page = client.get(f"/u/{token}")
    assert 'lang="fr"' in page.text and "Vos préférences" in page.text and 'value="sms" checked' in page.text
    with clock.frozen_at(clock.now()):
        response = client.post(f"/u/{token}", data={"action": "save", "channel": ["email", "mail"],
                                                    "topic": ["newsletter"], "pause_weeks": "4"})
        expected_until = clock.now() + timedelta(weeks=4)
    assert response.status_code == 200 and "Préférences enregistrées" in response.text
    consents = _consents(session, contact.id)
    assert consents[("email", "marketing")] == "granted" and consents[("sms", "marketing")] == "withdrawn"
    assert consents[("mail", "marketing")] == "granted"
    assert consents[("email", "offers")] == "withdrawn" and consents[("email", "events")] == "withdrawn"
    assert consents[("email", "newsletter")] == "granted"
    refreshed = session.get(Contact, contact.id)
    assert refreshed is not None and refreshed.attributes["paused_until"] == expected_until.isoformat()
    assert events_of(session, "preferences.changed")[0].properties["source"] == "preference-centre"
    proof = session.scalars(select(Consent).where(Consent.contact_id == contact.id, Consent.channel == "sms")).one()
    assert proof.source == "preference-centre" and proof.ip


def test_unsubscribe_from_everything(web: tuple[TestClient, Settings], session: Session) -> None:
    client, config = web
    contact = _subscribed(session)
    token = link_token(config, "unsubscribe", {"c": contact.id})
    assert client.post(f"/u/{token}", data={"action": "unsubscribe_all"}).status_code == 200
    consents = _consents(session, contact.id)
    assert all(status == "withdrawn" for status in consents.values())
    assert {channel for channel, _ in consents} == {"email", "sms", "mail"}
    assert events_of(session, "email.unsubscribed")[0].properties["scope"] == "all"


def test_bad_tokens_and_erased_contacts(web: tuple[TestClient, Settings], session: Session) -> None:
    client, config = web
    contact = _subscribed(session)
    good = link_token(config, "unsubscribe", {"c": contact.id})
    forged = link_token(config.model_copy(update={"secret_key": config.secret_key.__class__("other")}),
                        "unsubscribe", {"c": contact.id})
    for token in (forged, good[:-2] + "xx", "nope", link_token(config, "click", {"c": contact.id}),
                  link_token(config, "unsubscribe", {"c": 999999}), link_token(config, "unsubscribe", {"x": 1})):
        assert client.get(f"/u/{token}").status_code == 404
        assert client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 404
    assert client.post(f"/u/{good}", data={"action": "drop-tables"}).status_code == 400
    assert _consents(session, contact.id)[("email", "marketing")] == "granted"
    assert session.query(Event).filter(Event.type == "email.unsubscribed").count() == 0


def test_double_opt_in_confirmation(web: tuple[TestClient, Settings], session: Session) -> None:
    client, config = web
    contact = Contact(email="new@example.fr", language="fr")
    session.add(contact)
    session.flush()
    set_consent(session, contact.id, "email", "pending", Proof(source="form:newsletter", form="newsletter"))
    session.commit()
    token = link_token(config, "confirm", {"c": contact.id, "ch": "email"})
    first = client.get(f"/c/{token}", headers={"User-Agent": "Firefox"})
    assert first.status_code == 200 and "Inscription confirmée" in first.text
    consent = session.scalars(select(Consent).where(Consent.contact_id == contact.id)).one()
    session.refresh(consent)
    assert consent.status == "granted" and consent.source == "double-opt-in" and consent.user_agent == "Firefox"
    assert "déjà" in client.get(f"/c/{token}").text
    set_consent(session, contact.id, "email", "withdrawn", Proof(source="unsubscribe"))
    session.commit()
    stale = client.get(f"/c/{token}")  # an old confirmation link never re-subscribes someone who left
    assert "plus valable" in stale.text and _consents(session, contact.id)[("email", "marketing")] == "withdrawn"
    assert client.get("/c/forged.token").status_code == 404
