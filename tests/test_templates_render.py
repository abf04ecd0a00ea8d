"""Rendering library templates: emails parsed back with `email`, signed links, SMS and letters (no database)."""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors.mime import build_email
from core.links import read_link_token
from core.settings import Settings
from core.signing import BadToken
from templates.errors import RenderError
from templates.library import load_library
from templates.pipeline import prepare_library
from templates.render import PreparedEmail

EMAILS = [item.name for item in load_library() if item.channel == "email"]
CONTACT = {"id": 41, "email": "zoe.dupre@example.org", "first_name": "Zoé", "last_name": "Dupré",
           "company": "Ben & Jerry <Lyon>", "phone": "+33612345678", "language": "fr", "attributes": {"plan": "pro"},
           "address_line1": "12, rue de l'Église", "postcode": "69003", "city": "Lyon", "country": "FR"}
UTM = {"utm_source": "relance", "utm_medium": "email", "utm_campaign": "spring-sale"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, secret_key="render-secret",  # type: ignore[call-arg, arg-type]
                    public_url="https://go.example.net", from_email="Atelier Relance <news@atelier.example>",
                    postal_address="Atelier SAS, 3 rue Neuve, 69001 Lyon", outbox_dir=tmp_path / "outbox")


def _render(settings: Settings, name: str, locale: str = "fr", **kwargs: object) -> email.message.EmailMessage:
    prepared = prepare_library(name, locale=locale, settings=settings)
    extra = {"survey_invitation": "inv-123", "survey_contact": 7} if name == "survey-invitation" else None
    message = prepared.render(CONTACT, message_id="msg-0001", campaign="spring-sale", utm=UTM, extra=extra)
    parsed = email.message_from_bytes(bytes(build_email(message)), policy=policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


@pytest.mark.parametrize("locale", ["fr", "en"])
@pytest.mark.parametrize("name", EMAILS)
def test_library_email_parses_back_with_every_required_part(settings: Settings, name: str, locale: str) -> None:
    parsed = _render(settings, name, locale)
    assert parsed["To"] == "zoe.dupre@example.org"
    assert parsed["Subject"] and "{{" not in parsed["Subject"] and "{%" not in parsed["Subject"]
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https_part, mailto_part = [part.strip(" <>") for part in parsed["List-Unsubscribe"].split(",")]
    assert https_part.startswith("https://go.example.net/u/") and mailto_part.startswith("mailto:unsubscribe@")
    assert read_link_token(settings, "unsubscribe", https_part.rpartition("/")[2]) == {"c": 41, "m": "msg-0001"}
    html = parsed.get_body(("html",)).get_content()
    text = parsed.get_body(("plain",)).get_content()
    for body in (html, text):
        assert "{{" not in body and "{%" not in body and "\x1e" not in body
        assert "Atelier SAS, 3 rue Neuve, 69001 Lyon" in body
        assert https_part in body  # visible unsubscribe link in both parts
    open_pixel = re.search(r'<img src="https://go.example.net/t/o/([^"]+)"', html)
    assert open_pixel and read_link_token(settings, "open", open_pixel.group(1)) == {"m": "msg-0001"}


@pytest.mark.parametrize("name", EMAILS)
def test_every_web_link_is_a_signed_click_with_utm(settings: Settings, name: str) -> None:
    parsed = _render(settings, name)
    html = parsed.get_body(("html",)).get_content()
    hrefs = re.findall(r'<a\b[^>]*href="([^"]+)"', html)
    assert hrefs
    clicks = 0
    for href in hrefs:
        if "/u/" in href or "/s/" in href:
            continue
        assert href.startswith("https://go.example.net/t/c/"), href
        payload = read_link_token(settings, "click", href.rpartition("/")[2])
        assert payload["m"] == "msg-0001"
        query = parse_qs(urlsplit(payload["url"]).query)
        assert query["utm_campaign"] == ["spring-sale"] and query["utm_source"] == ["relance"]
        clicks += 1
    assert clicks >= 1 or name == "survey-invitation"
    with pytest.raises(BadToken):
        read_link_token(settings, "open", hrefs[0].rpartition("/")[2])  # signed for "click", not "open"


def test_contact_values_are_escaped_in_html_and_raw_in_text(settings: Settings) -> None:
    parsed = _render(settings, "welcome")
    html = parsed.get_body(("html",)).get_content()
    text = parsed.get_body(("plain",)).get_content()
    assert "Ben &amp; Jerry &lt;Lyon&gt;" in html and "<Lyon>" not in html
    assert "Ben & Jerry <Lyon>" in text
    assert parsed["Subject"] == "Bienvenue chez Atelier Relance, Zoé !"


@pytest.mark.parametrize("name", EMAILS)
def test_fast_path_equals_plain_jinja(settings: Settings, name: str) -> None:
    prepared = prepare_library(name, locale="en", settings=settings)
    assert isinstance(prepared, PreparedEmail) and prepared.renderer.split
    for contact in (CONTACT, {"id": 2, "email": "a@b.c"}, {"id": 3, "email": "x@y.z", "first_name": "A\x1eB"}):
        context = prepared._context(dict(contact), "m-1", "c", {"survey_url": "https://s.example/1"})
        context.update({"_l": [f"L{i}" for i in range(len(prepared.body.links))], "_open": "O",
                        "unsubscribe_url": "U", "preferences_url": "U"})
        assert prepared.renderer.render(dict(context)) == prepared.renderer.render_full(dict(context))


def test_substitution_form_rebuilds_the_rendered_bodies(settings: Settings) -> None:
    prepared = prepare_library("newsletter", locale="fr", settings=settings)
    message = prepared.render(CONTACT, message_id="m-9", campaign="news", utm=UTM)
    form = message.metadata["substitution"]
    html, text = form.html, form.text
    for tag, value in form.substitutions.items():
        html, text = html.replace(tag, value), text.replace(tag, value)
    assert html == message.html and text == message.text


def test_email_needs_an_address_and_survey_needs_an_invitation(settings: Settings) -> None:
    with pytest.raises(RenderError, match="no email"):
        prepare_library("welcome", locale="fr", settings=settings).render({"id": 1}, message_id="m")
    with pytest.raises(RenderError, match="survey_invitation"):
        prepare_library("survey-invitation", locale="fr", settings=settings).render(CONTACT, message_id="m")


def test_survey_link_is_signed_for_the_invitation(settings: Settings) -> None:
    parsed = _render(settings, "survey-invitation")
    html = parsed.get_body(("html",)).get_content()
    token = re.search(r'href="https://go.example.net/s/([^"]+)"', html)
    assert token and read_link_token(settings, "survey", token.group(1)) == {"c": 7, "i": "inv-123"}


def test_unknown_locale_falls_back_to_the_default_language(settings: Settings) -> None:
    assert prepare_library("welcome", locale="de-DE", settings=settings).ref.locale == "fr"
    assert prepare_library("welcome", locale="en_GB", settings=settings).ref.locale == "en"


def test_sms_render_appends_opt_out_and_reports_segments(settings: Settings) -> None:
    prepared = prepare_library("sms-offer", locale="fr", settings=settings)
    message = prepared.render(CONTACT, message_id="s-1", campaign="flash")
    assert message.channel == "sms" and message.to == "+33612345678"
    assert message.text is not None and message.text.endswith("Désabonnement : répondez STOP")
    assert "Zoé" in message.text and "{{" not in message.text
    assert message.metadata["encoding"] == "GSM-7" and message.metadata["segments"] == 1
    with pytest.raises(RenderError, match="no phone"):
        prepared.render({"id": 2}, message_id="s-2")


def test_letter_render_produces_a_pdf_and_address_lines(settings: Settings) -> None:
    prepared = prepare_library("letter-offer", locale="fr", settings=settings)
    message = prepared.render(CONTACT, message_id="l-1", campaign="vip")
    assert message.address_lines == ("Zoé DUPRÉ", "12 RUE DE L EGLISE", "69003 LYON")
    pdf = message.attachments[0].content
    assert pdf.startswith(b"%PDF-") and message.metadata["pages"] == 1
    assert message.html is not None and "MERCI-41" in message.html
