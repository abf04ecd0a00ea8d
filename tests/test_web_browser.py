"""A real browser (headless Chromium) unsubscribes from an email link, uses the preference centre, fills a lead form."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from contacts.consent import Proof, set_consent
from core.models import Consent, Contact
from core.settings import Settings
from templates.pipeline import prepare_library
from tests.web_server import chrome, served_app

pytestmark = pytest.mark.browser


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """The browser checks pages, not SQL: one database is enough."""
    return str(request.param)


@pytest.fixture
def server(engine: Engine, settings: Settings) -> Iterator[Settings]:
    """uvicorn on a loopback port serving the app; yields settings whose public URL is that server."""
    with served_app(engine, settings, apply_interval=0.5) as config:
        yield config


@pytest.fixture
def browser() -> Iterator[object]:
    with chrome("--window-size=390,844", "--lang=fr-FR") as driver:
        yield driver


def _unsubscribe_link(settings: Settings, contact: Contact) -> str:
    """The visible unsubscribe link of the library's welcome email rendered for `contact`."""
    message = prepare_library("welcome", locale="fr", settings=settings).render(contact, message_id="m-browser")
    links = re.findall(r'href="([^"]+)"[^>]*>Se désinscrire', message.html or "")
    assert links and links[0] == message.headers["List-Unsubscribe"].split(">")[0].lstrip("<")
    return html.unescape(links[0])


def _click_and_wait(driver: Any, element: Any) -> None:
    """Click a link or submit button and wait until the next page replaced this one (no stale reads)."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = driver.find_element("tag name", "html")
    element.click()
    WebDriverWait(driver, 10).until(expected_conditions.staleness_of(page))


def test_unsubscribe_preferences_and_lead_form_in_a_browser(server: Settings, browser: object, session: Session,
                                                            tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    driver: WebDriver = browser  # type: ignore[assignment]
    contact = Contact(email="marie@example.fr", phone="+33612345678", language="fr")
    session.add(contact)
    session.flush()
    for channel in ("email", "sms"):
        set_consent(session, contact.id, channel, "granted", Proof(source="import"))
    session.commit()

    driver.get(_unsubscribe_link(server, contact))
    assert driver.find_element(By.TAG_NAME, "h1").text == "Se désabonner"
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
    driver.save_screenshot(str(tmp_path / "1-unsubscribe-page.png"))
    # Preference centre: keep email, drop SMS, drop the "offers" topic, pause 4 weeks.
    driver.find_element(By.ID, "channel-sms").click()
    driver.find_element(By.ID, "topic-offers").click()
    driver.find_element(By.CSS_SELECTOR, "#pause option[value='4']").click()
    _click_and_wait(driver, driver.find_element(By.ID, "save"))
    assert "Préférences enregistrées" in driver.find_element(By.TAG_NAME, "h1").text
    driver.save_screenshot(str(tmp_path / "2-preferences-saved.png"))
    session.expire_all()
    status = {(c.channel, c.topic): c.status for c in session.scalars(select(Consent))}
    assert status[("email", "marketing")] == "granted" and status[("sms", "marketing")] == "withdrawn"
    assert status[("email", "offers")] == "withdrawn" and status[("email", "newsletter")] == "granted"
    # Then unsubscribe with the big button.
    _click_and_wait(driver, driver.find_element(By.LINK_TEXT, "Revenir à mes préférences"))
    _click_and_wait(driver, driver.find_element(By.ID, "unsubscribe"))
    assert driver.find_element(By.TAG_NAME, "h1").text == "C'est fait"
    session.expire_all()
    email = session.scalars(select(Consent).where(Consent.channel == "email", Consent.topic == "marketing")).one()
    assert email.status == "withdrawn" and email.source == "unsubscribe-page" and "Chrome" in (email.user_agent or "")

    # A lead form: first a mistake, then a correct submission.
    driver.get(f"{server.public_url}/forms/demo-request?utm_source=ignored")
    driver.find_element(By.ID, "field-email").send_keys("pas-un-email")
    _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    assert driver.find_element(By.ID, "errors").is_displayed()
    driver.save_screenshot(str(tmp_path / "3-form-errors.png"))
    fields = {"field-email": "lucas@example.fr", "field-first_name": "Lucas", "field-last_name": "Bernard",
              "field-company": "Bernard & Fils", "field-phone": "06 98 76 54 32"}
    for element_id, value in fields.items():
        element = driver.find_element(By.ID, element_id)
        element.clear()
        element.send_keys(value)
    driver.find_element(By.ID, "field-consent").click()
    _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    assert "Merci !" in driver.page_source, driver.find_element(By.TAG_NAME, "main").text
    assert driver.find_element(By.TAG_NAME, "h1").text == "Merci !"
    driver.save_screenshot(str(tmp_path / "4-thank-you.png"))
    lead = session.scalars(select(Contact).where(Contact.email == "lucas@example.fr")).one()
    assert (lead.company, lead.phone, lead.lifecycle_stage) == ("Bernard & Fils", "+33698765432", "lead")
    assert all((tmp_path / name).stat().st_size > 1000 for name in (
        "1-unsubscribe-page.png", "2-preferences-saved.png", "3-form-errors.png", "4-thank-you.png"))
