"""A real HTTP server for tests: uvicorn in a thread on a free loopback port, stopped when the block ends."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(make_app: Callable[[str], Any], **options: Any) -> Iterator[str]:
    """Serve the app `make_app(base_url)` builds (it learns its own public URL first); yields that URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(uvicorn.Config(make_app(url), host="127.0.0.1", port=port, log_level="warning",
                                           **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def served_app(engine: Any, settings: Any, **app_options: Any) -> Iterator[Any]:
    """The web app on a loopback port; yields its settings, whose public URL is that server."""
    from tests.test_web_support import web_settings
    from web.app import create_app

    configs: list[Any] = []

    def make_app(url: str) -> Any:
        configs.append(web_settings(settings, public_url=url))
        return create_app(configs[0], engine=engine, **app_options)

    with serving(make_app):
        yield configs[0]


@contextmanager
def chrome(*flags: str, prefs: dict[str, Any] | None = None) -> Iterator[Any]:
    """Headless Chromium through chromedriver (the test is skipped where it is not installed)."""
    import shutil
    from pathlib import Path

    import pytest

    if not (shutil.which("chromedriver") or Path("/usr/bin/chromedriver").exists()):
        pytest.skip("chromedriver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", *flags):
        options.add_argument(flag)
    if prefs:
        options.add_experimental_option("prefs", prefs)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()
