"""`relance dashboard` in a real browser: start it as a subprocess, sign in with headless Chromium, visit the pages."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from tests.report_seed import PASSWORD, Seeded, seed

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PAGES = (("campaigns", "Campaigns"), ("campaign", "Campaign report"), ("channels", "Channels"),
         ("segments", "Segments"), ("scoring", "Lead scoring"), ("contacts", "Contacts"),
         ("surveys", "Surveys"), ("schedule", "Schedule a campaign"))


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """The browser checks pages, not SQL: one database is enough."""
    return str(request.param)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"relance dashboard exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("the dashboard did not answer its health check in time")


@pytest.fixture
def dashboard(cli_env: Path, session: Session) -> Iterator[str]:
    """`relance dashboard` on a free port against the seeded test database; yields its URL."""
    seed(session)
    with running_dashboard(cli_env) as url:
        yield url


@contextmanager
def running_dashboard(cli_env: Path) -> Iterator[str]:
    """`relance dashboard` on a free port against RELANCE_DATABASE_URL, as long as the block lasts; its URL."""
    port = _free_port()
    relance = Path(sys.executable).parent / "relance"
    log = (cli_env / "dashboard.log").open("wb")
    process = subprocess.Popen([str(relance), "dashboard", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ}, cwd=cli_env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def browser() -> Iterator[object]:
    with chromium() as driver:
        yield driver


@contextmanager
def chromium() -> Iterator[object]:
    """Headless Chromium through chromedriver (the test is skipped where they are not installed)."""
    has_driver = shutil.which("chromedriver") or Path("/usr/bin/chromedriver").exists()
    if not (Path("/usr/bin/chromium").exists() and has_driver):
        pytest.skip("chromium / chromedriver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--window-size=1440,1100", "--lang=en-GB"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _screenshots_dir(tmp_path: Path) -> Path:
    """tmp_path, or RELANCE_SCREENSHOTS when set (to keep the pictures after the run)."""
    folder = Path(os.environ.get("RELANCE_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_sign_in_and_visit_every_page(dashboard: str, browser: object, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    driver: WebDriver = browser  # type: ignore[assignment]
    wait = WebDriverWait(driver, 45)
    shots = _screenshots_dir(tmp_path)
    driver.get(dashboard)
    username = wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "input[aria-label='Username']")))
    username.send_keys("marc")
    driver.find_element(By.CSS_SELECTOR, "input[aria-label='Password']").send_keys("not the password")
    driver.find_element(By.CSS_SELECTOR, "button[kind='primaryFormSubmit']").click()
    wait.until(ready.text_to_be_present_in_element((By.TAG_NAME, "body"), "Wrong username or password"))
    password = driver.find_element(By.CSS_SELECTOR, "input[aria-label='Password']")
    password.send_keys(Keys.CONTROL, "a")  # clear() does not reach React's state
    password.send_keys(Keys.DELETE)
    password.send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[kind='primaryFormSubmit']").click()
    wait.until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Overview"))
    wait.until(ready.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid='stMetricValue']"), "EUR"))
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "[data-testid='stVegaLiteChart']")))
    time.sleep(1)  # let the charts finish drawing
    driver.save_screenshot(str(shots / "0-overview.png"))
    body = driver.find_element(By.TAG_NAME, "body").text
    assert "Signed in as marc (marketer)" in body and "25.95 EUR" in body
    for number, (path, heading) in enumerate(PAGES, start=1):
        driver.find_element(By.CSS_SELECTOR, f"[data-testid='stSidebarNav'] a[href$='/{path}']").click()
        wait.until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), heading))
        time.sleep(1.5)
        driver.save_screenshot(str(shots / f"{number}-{path}.png"))
        assert "Traceback" not in driver.find_element(By.TAG_NAME, "body").text
    driver.find_element(By.CSS_SELECTOR, "[data-testid='stSidebarNav'] a[href$='/campaign']").click()
    wait.until(ready.text_to_be_present_in_element((By.TAG_NAME, "body"), "Incremental revenue"))
    assert Seeded.campaign in driver.find_element(By.TAG_NAME, "body").text
    pictures = sorted(shots.glob("*.png"))
    assert len(pictures) == len(PAGES) + 1 and all(picture.stat().st_size > 20_000 for picture in pictures)
