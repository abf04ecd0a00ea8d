"""Survey pages in headless Chromium on a phone and a desktop: one tap in the invitation email, keyboard-only answers
with a visible focus, errors, resume, thank-you and a bad link — each screen shot and checked by axe-core (WCAG 2.1
A/AA, no violation)."""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.models import Answer, Response
from core.settings import Settings
from templates.pipeline import prepare_library
from tests.axe import axe_source, violations
from tests.surveys.support import invite_contacts, make_contacts, make_survey, path_of
from tests.web_server import chrome, served_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]
# A person's browser: Chromium's headless user agent is (rightly) taken for a link scanner, which records no tap.
PERSON = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
PHONE, DESKTOP = (390, 844), (1280, 900)


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """The browser checks pages, not SQL: one database is enough."""
    return str(request.param)


@pytest.fixture
def server(engine: Engine, settings: Settings) -> Iterator[Settings]:
    with served_app(engine, settings, apply_interval=0.5) as config:
        yield config


@pytest.fixture
def driver() -> Iterator[Any]:
    with chrome(f"--window-size={PHONE[0]},{PHONE[1]}", "--lang=fr-FR", f"--user-agent={PERSON}",
                prefs={"intl.accept_languages": "fr-FR,fr"}) as browser:
        browser.set_script_timeout(30)
        yield browser


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go (RELANCE_SCREENSHOT_DIR keeps them for a person to look at)."""
    folder = Path(os.environ.get("RELANCE_SCREENSHOT_DIR") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Checker:
    """Screenshots every screen at phone and desktop width and collects axe-core's violations."""

    def __init__(self, chrome: Any, folder: Path) -> None:
        self.chrome, self.folder, self.source = chrome, folder, axe_source()
        self.found: dict[str, list[dict[str, Any]]] = {}

    def check(self, name: str) -> None:
        for label, (width, height) in (("phone", PHONE), ("desktop", DESKTOP)):
            self.chrome.set_window_size(width, height)
            full = self.chrome.execute_script("return document.documentElement.scrollHeight")
            self.chrome.set_window_size(width, max(height, int(full) + 140))
            self.chrome.save_screenshot(str(self.folder / f"{name}-{label}.png"))
            problems = violations(self.chrome, self.source)
            if problems:
                self.found[f"{name}-{label}"] = problems
        self.chrome.set_window_size(*PHONE)


def _tap_link(settings: Settings, path: str, contact: Any, score: int) -> str:
    """The one-tap link for `score` in the invitation email rendered for the contact."""
    first = {"name": "nps", "type": "nps", "text": {"fr": "Recommanderiez-vous ?"}, "alone": True,
             "choices": [{"value": str(v), "label": {"fr": str(v)}} for v in range(11)]}
    message = prepare_library("survey-invitation", locale="fr", settings=settings).render(
        contact, message_id="m-browser", extra={"survey_url": f"{settings.public_url}{path}",
                                                "survey_first_question": first})
    links = [html.unescape(link) for link in re.findall(r'href="([^"]+/a/nps/\d+)"', message.html or "")]
    assert len(links) == 11
    return links[score]


def _keyboard(chrome: Any, *keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    actions = ActionChains(chrome)
    for key in keys:
        actions.send_keys(key)
    actions.perform()


def _submit(chrome: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = chrome.find_element(By.TAG_NAME, "html")
    chrome.find_element(By.ID, "submit").send_keys(Keys.ENTER)
    WebDriverWait(chrome, 10).until(expected_conditions.staleness_of(page))


def test_survey_in_a_browser_by_keyboard_accessible_on_phone_and_desktop(
        server: Settings, driver: Any, session: Session, shots: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    make_survey(session)
    contact = make_contacts(session, 1, first_name="Camille")[0]
    invitation = invite_contacts(session, "nps-2026", [contact])[0]
    path = path_of(server, invitation)
    checker = Checker(driver, shots)

    driver.get(f"{server.public_url}{path}")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
    checker.check("1-first-page")
    driver.get(_tap_link(server, path, contact, 3))  # one tap in the email: a detractor's 3
    assert "Page 2 sur 3" in driver.page_source and "votre note est enregistrée" in driver.page_source
    assert driver.find_element(By.ID, "q-reason").is_displayed()  # skip logic: the detractor's question
    checker.check("2-after-one-tap")

    # Keyboard only: Tab into the CSAT radio group, arrows choose 4; the focus ring is visible.
    _keyboard(driver, Keys.TAB)
    focused = driver.switch_to.active_element
    assert focused.get_attribute("id") == "q-reason-input", focused.get_attribute("outerHTML")
    _keyboard(driver, "Trop de relances")
    _keyboard(driver, Keys.TAB, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    radio = driver.switch_to.active_element
    assert radio.get_attribute("name") == "q.support" and radio.get_attribute("value") == "4"
    outline = driver.execute_script("return getComputedStyle(arguments[0].nextElementSibling).outlineStyle", radio)
    assert outline == "solid"
    checker.check("3-keyboard-focus")
    _submit(driver)  # usage (required) left empty: the page comes back with its errors
    assert driver.find_element(By.ID, "errors").is_displayed() and "une réponse est nécessaire" in driver.page_source
    checker.check("4-errors")
    assert driver.find_element(By.ID, "q-reason-input").get_attribute("value") == "Trop de relances"  # kept
    driver.find_element(By.ID, "q-usage-weekly").send_keys(Keys.SPACE)
    _submit(driver)
    assert "Page 3 sur 3" in driver.page_source
    checker.check("5-last-page")

    driver.get(f"{server.public_url}{path}")  # the person comes back later: same link, same place
    assert "Vous reprenez là où vous vous étiez arrêté" in driver.page_source
    driver.find_element(By.ID, "q-newsletter-yes").send_keys(Keys.SPACE)
    driver.find_element(By.ID, "q-aspects-price-4").send_keys(Keys.SPACE)
    _submit(driver)
    assert driver.find_element(By.TAG_NAME, "h1").text == "Merci !"
    checker.check("6-thanks")
    driver.get(f"{server.public_url}{path[:-4]}AAAA")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Lien de questionnaire invalide"
    checker.check("7-bad-link")

    session.expire_all()
    assert session.scalars(select(Response.status)).one() == "completed"
    answers = dict(session.execute(select(Answer.question, Answer.value)).tuples().all())
    assert answers == {"nps": 3, "reason": "Trop de relances", "support": 4, "usage": "weekly", "newsletter": True,
                       "aspects.price": 4}
    assert checker.found == {}, checker.found
    assert len(list(shots.glob("*.png"))) >= 14
