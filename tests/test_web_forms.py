"""Lead-capture forms: validation, honeypot, rate limit, source (UTM + referrer), dedup, consent proof, opt-in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from connectors.memory import MemoryBackend
from contacts.forms import FormError, load_forms
from core.models import Consent, Contact, Event
from core.settings import Settings
from tests.helpers import run_cli
from tests.test_web_support import FORMS_DIR, events_of, make_client, web_settings

DEMO = {"email": "Jeanne.Martin@Example.FR ", "first_name": "Jeanne", "last_name": "Martin", "company": "Acme",
        "phone": "06 12 34 56 78", "team_size": "11-50", "consent": "yes", "utm_source": "linkedin",
        "utm_campaign": "printemps", "referrer": "https://www.linkedin.com/", "page": "https://acme.fr/demo"}


@pytest.fixture
def lead_web(engine: Engine, settings: Settings) -> Iterator[tuple[TestClient, Settings, MemoryBackend]]:
    config = web_settings(settings, form_rate_limit=5)
    backend = MemoryBackend("email")
    with make_client(engine, config, email_backend=backend) as client:
        yield client, config, backend


def test_valid_submission_creates_a_lead_with_source_and_consent_proof(
        lead_web: tuple[TestClient, Settings, MemoryBackend], session: Session) -> None:
    client, _, backend = lead_web
    response = client.post("/forms/demo-request", data=DEMO, follow_redirects=False,
                           headers={"User-Agent": "Mozilla/5.0 Test", "Referer": "https://acme.fr/demo"})
    assert response.status_code == 303 and response.headers["location"].startswith("/forms/demo-request/thanks")
    contact = session.scalars(select(Contact)).one()
    assert (contact.email, contact.phone, contact.company, contact.lifecycle_stage) == (
        "jeanne.martin@example.fr", "+33612345678", "Acme", "lead")
    assert (contact.source, contact.utm_source, contact.utm_campaign, contact.referrer) == (
        "form:demo-request", "linkedin", "printemps", "https://www.linkedin.com/")
    assert contact.attributes == {"team_size": "11-50"}
    consents = {c.channel: c for c in session.scalars(select(Consent))}
    assert set(consents) == {"email", "sms"}
    proof = consents["email"]
    assert (proof.status, proof.form, proof.wording_version, proof.user_agent) == (
        "granted", "demo-request", "demo-2026-01", "Mozilla/5.0 Test")
    assert proof.ip and proof.occurred_at
    submitted = events_of(session, "form.submitted")[0]
    assert submitted.properties["form"] == "demo-request" and submitted.properties["utm_source"] == "linkedin"
    assert backend.sent == []  # no double opt-in on this form


def test_resubmission_merges_into_the_existing_contact(lead_web: tuple[TestClient, Settings, MemoryBackend],
                                                       session: Session) -> None:
    client, _, _ = lead_web
    existing = Contact(email="jeanne.martin@example.fr", first_name="J.", lifecycle_stage="customer",
                       source="import", utm_source="salon")
    by_phone = Contact(phone="+33699887766", first_name="Paul")
    session.add_all([existing, by_phone])
    session.commit()
    client.post("/forms/demo-request", data=DEMO, follow_redirects=False)
    client.post("/forms/demo-request", data={**DEMO, "email": "paul@example.fr", "phone": "0699887766",
                                             "first_name": "Paul"}, follow_redirects=False)
    session.expire_all()
    assert session.query(Contact).count() == 2
    merged = session.get(Contact, existing.id)
    assert merged is not None and merged.first_name == "Jeanne" and merged.lifecycle_stage == "customer"
    assert (merged.source, merged.utm_source) == ("import", "salon")  # first touch kept; last touch on the event
    phone_match = session.get(Contact, by_phone.id)
    assert phone_match is not None and phone_match.email == "paul@example.fr"
    assert len(events_of(session, "form.submitted")) == 2


def test_validation_errors_are_clear_and_save_nothing(lead_web: tuple[TestClient, Settings, MemoryBackend],
                                                      session: Session) -> None:
    client, _, _ = lead_web
    bad = {**DEMO, "email": "not-an-email", "phone": "12", "team_size": "9000", "first_name": ""}
    page = client.post("/forms/demo-request", data=bad)
    assert page.status_code == 422 and 'role="alert"' in page.text and 'aria-invalid="true"' in page.text
    assert "Adresse e-mail invalide." in page.text and 'value="Martin"' in page.text  # values kept
    api = client.post("/forms/demo-request", json=bad, headers={"Accept": "application/json"})
    assert api.status_code == 422
    assert set(api.json()["errors"]) == {"email", "phone", "team_size", "first_name"}
    english = client.post("/forms/demo-request?lang=en", json={**bad, "email": ""})
    assert english.json()["errors"]["email"] == "This field is required."
    required_consent = client.post("/forms/newsletter", json={"email": "a@example.fr"})
    assert required_consent.status_code == 422 and "consent" in required_consent.json()["errors"]
    assert session.query(Contact).count() == 0 and session.query(Event).count() == 0


def test_honeypot_looks_successful_and_keeps_nothing(lead_web: tuple[TestClient, Settings, MemoryBackend],
                                                     session: Session) -> None:
    client, _, _ = lead_web
    response = client.post("/forms/demo-request", json={**DEMO, "website": "http://spam.example"})
    assert response.status_code == 200 and response.json()["ok"] is True
    assert session.query(Contact).count() == 0


def test_per_ip_rate_limit(lead_web: tuple[TestClient, Settings, MemoryBackend], session: Session) -> None:
    client, config, _ = lead_web
    codes = [client.post("/forms/demo-request", json={**DEMO, "email": f"p{i}@example.fr"}).status_code
             for i in range(config.form_rate_limit + 2)]
    assert codes == [200] * config.form_rate_limit + [429, 429]
    assert session.query(Contact).count() == config.form_rate_limit


def test_double_opt_in_sends_a_confirmation_link_that_grants_consent(
        lead_web: tuple[TestClient, Settings, MemoryBackend], session: Session) -> None:
    client, config, backend = lead_web
    response = client.post("/forms/newsletter", data={"email": "lea@example.fr", "consent": "on"},
                           headers={"X-Requested-With": "fetch"})
    assert response.json() == {"ok": True, "message": response.json()["message"], "confirmation_sent": True}
    consent = session.scalars(select(Consent)).one()
    assert consent.status == "pending" and consent.wording_version == "newsletter-2026-01"
    (email,) = backend.sent
    assert email.to == "lea@example.fr" and email.subject == "Confirmez votre inscription"
    link = next(word for word in (email.text or "").split() if word.startswith(config.public_url))
    confirm = client.get(link.removeprefix(config.public_url))
    assert confirm.status_code == 200
    session.expire_all()
    assert session.scalars(select(Consent)).one().status == "granted"


def test_unknown_form_malformed_and_oversized_bodies(lead_web: tuple[TestClient, Settings, MemoryBackend],
                                                     session: Session) -> None:
    client, _, _ = lead_web
    assert client.post("/forms/nope", data=DEMO).status_code == 404
    assert client.post("/forms/demo-request", content=b"{bad json",
                       headers={"Content-Type": "application/json"}).status_code == 400
    assert client.post("/forms/demo-request", content=b"[1, 2]",
                       headers={"Content-Type": "application/json"}).status_code == 400
    assert client.post("/forms/demo-request", content=b"\xff\xfe\xfa",
                       headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 400
    assert client.post("/forms/demo-request", content=b"a=" + b"x" * 70_000,
                       headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 413
    assert session.query(Contact).count() == 0


def test_hosted_form_page_is_accessible_and_bilingual(lead_web: tuple[TestClient, Settings, MemoryBackend]) -> None:
    client, _, _ = lead_web
    french = client.get("/forms/demo-request").text
    assert '<html lang="fr">' in french and '<label for="field-email">' in french and 'autocomplete="email"' in french
    assert 'name="website"' in french and 'tabindex="-1"' in french and 'name="viewport"' in french
    english = client.get("/forms/demo-request", headers={"Accept-Language": "en-GB,en;q=0.9"}).text
    assert "Request a demo" not in french and "Demander une démonstration" in french
    assert "Demander une démonstration" in english  # the form's own language wins over the browser's
    assert "Request a demo" in client.get("/forms/demo-request?lang=en").text


def test_form_snippet_cli_and_list(cli_env: object) -> None:
    result = run_cli("form", "snippet", "newsletter", "--dir", str(FORMS_DIR))
    assert result.exit_code == 0
    assert 'action="https://relance.test/forms/newsletter"' in result.stdout and "utm_source" in result.stdout
    assert "<script>" in result.stdout and 'name="consent"' in result.stdout
    missing = run_cli("form", "snippet", "nope", "--dir", str(FORMS_DIR))
    assert missing.exit_code == 1
    listed = run_cli("form", "list", "--dir", str(FORMS_DIR), "--json")
    assert {row["name"] for row in __import__("json").loads(listed.stdout)} == {"newsletter", "demo-request"}


def test_bad_form_definitions_name_the_file(tmp_path: object, settings: Settings) -> None:
    from pathlib import Path

    directory = Path(str(tmp_path)) / "forms"
    directory.mkdir()
    (directory / "broken.yaml").write_text("name: broken\nfields: [{name: email, type: colour}]\n")
    with pytest.raises(FormError, match="broken.yaml"):
        load_forms(settings.model_copy(update={"forms_dir": directory}))
