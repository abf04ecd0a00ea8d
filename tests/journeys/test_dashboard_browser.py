"""The Journeys page in a real browser: `relance dashboard` as a subprocess, headless Chromium signs in as a
marketer, the flow diagram is drawn (an SVG with the steps and the counts on the edges) and pausing works."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core import clock
from core.settings import Settings
from core.users import add_user
from journeys.service import get_journey
from tests.journeys.support import advance, document, make_journey, people, submit_form
from tests.test_dashboard_browser import _screenshots_dir, chromium, running_dashboard

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "journeys-password"


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """The browser checks the page, not SQL: one database is enough."""
    return str(request.param)


@pytest.fixture
def dashboard(cli_env: Path, engine: Engine, session: Session, settings: Settings) -> Iterator[str]:
    clock.reset()
    make_journey(session, settings, document())
    submit_form(session, people(session, 6))
    advance(engine, settings, by=timedelta(seconds=1))
    add_user(session, "mia", "marketer", PASSWORD, actor="test")
    session.commit()
    with running_dashboard(cli_env) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[object]:
    with chromium() as driver:
        yield driver


def test_the_flow_diagram_is_drawn_and_a_marketer_pauses(dashboard: str, browser: object, session: Session,
                                                         tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    driver: WebDriver = browser  # type: ignore[assignment]
    wait = WebDriverWait(driver, 120)
    driver.get(dashboard)
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "input[aria-label='Username']"))).send_keys("mia")
    driver.find_element(By.CSS_SELECTOR, "input[aria-label='Password']").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[kind='primaryFormSubmit']").click()
    wait.until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Overview"))
    driver.find_element(By.CSS_SELECTOR, "[data-testid='stSidebarNav'] a[href$='/journeys']").click()
    wait.until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Journeys"))
    svg = wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "[data-testid='stGraphVizChart'] svg")))
    wait.until(lambda _: "clicked" in svg.text)
    driver.execute_script("arguments[0].scrollIntoView()", svg)
    time.sleep(1)
    driver.save_screenshot(str(_screenshots_dir(tmp_path) / "journeys.png"))
    drawn = svg.text
    assert "welcome" in drawn and "enrolled 6" in drawn and "6 waiting" in drawn
    assert "Traceback" not in driver.find_element(By.TAG_NAME, "body").text
    pause = wait.until(ready.element_to_be_clickable((By.XPATH, "//button[contains(., 'Pause this journey')]")))
    pause.click()
    wait.until(ready.presence_of_element_located((By.XPATH, "//button[contains(., 'Resume this journey')]")))
    session.expire_all()
    assert get_journey(session, "nurture").status == "paused"
