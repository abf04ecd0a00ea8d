"""Two library emails rendered in headless Chromium, screenshots saved under the test's tmp dir."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from core.settings import Settings
from templates.pipeline import prepare_library

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = "/usr/bin/chromedriver"
pytestmark = pytest.mark.browser


@pytest.fixture
def driver():  # type: ignore[no-untyped-def]
    if not (CHROMIUM and Path(CHROMEDRIVER).exists()):
        message = f"headless Chromium unavailable (chromium={CHROMIUM}, chromedriver={CHROMEDRIVER})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--window-size=640,1400"):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield browser
    browser.quit()


@pytest.mark.parametrize(("name", "locale", "width"), [("welcome", "fr", 640), ("newsletter", "en", 375)])
def test_library_email_renders_in_chromium(driver, tmp_path: Path, name: str, locale: str, width: int) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(_env_file=None, public_url="https://go.example.net")  # type: ignore[call-arg]
    message = prepare_library(name, locale=locale, settings=settings).render(
        {"id": 1, "email": "zoe@example.org", "first_name": "Zoé", "company": "Atelier Zoé"}, message_id="m-1")
    page = tmp_path / f"{name}.html"
    page.write_text(message.html or "", encoding="utf-8")
    driver.set_window_size(width, 1400)
    driver.get(page.as_uri())
    body_text = driver.find_element("tag name", "body").text
    assert "Zoé" in body_text and "{{" not in body_text
    assert settings.postal_address.split(",")[0] in body_text
    # Responsive: nothing wider than the viewport on a phone-sized window.
    scroll_width = driver.execute_script("return document.documentElement.scrollWidth")
    assert scroll_width <= width + 1
    buttons = driver.find_elements("css selector", "a[href^='https://go.example.net/t/c/']")
    assert buttons and buttons[0].is_displayed()
    shot = tmp_path / f"{name}-{locale}-{width}.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
