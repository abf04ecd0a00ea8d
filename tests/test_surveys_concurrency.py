"""200 people submit at the same moment through real HTTP (uvicorn), on SQLite and PostgreSQL: nothing is lost, and
a page posted twice at once by the same person still makes one response."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core.models import Answer, Event, Response
from core.settings import Settings
from tests.survey_support import invite_contacts, make_contacts, make_survey, path_of
from tests.test_web_support import web_settings
from web.app import create_app

pytestmark = pytest.mark.slow
PEOPLE = 200
TWICE = 20  # the first 20 people post their page twice, concurrently


@pytest.fixture
def server(engine: Engine, settings: Settings) -> Iterator[Settings]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    config = web_settings(settings, public_url=f"http://127.0.0.1:{port}")
    instance = uvicorn.Server(uvicorn.Config(create_app(config, engine=engine, background=False), host="127.0.0.1",
                                             port=port, log_level="warning", backlog=1024))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield config
    instance.should_exit = True
    thread.join(10)


def test_200_concurrent_submissions_lose_nothing(server: Settings, session: Session) -> None:
    make_survey(session)
    invitations = invite_contacts(session, "nps-2026", make_contacts(session, PEOPLE))
    posts = [(path_of(server, invitation), str(index % 11)) for index, invitation in enumerate(invitations)]
    posts += posts[:TWICE]
    start = threading.Barrier(len(posts), timeout=60)

    def submit(item: tuple[str, str]) -> int:
        path, score = item
        with httpx.Client(base_url=server.public_url, timeout=120) as client:
            start.wait()
            return client.post(path, data={"page": "1", "q.nps": score}).status_code

    with ThreadPoolExecutor(max_workers=len(posts)) as pool:
        statuses = Counter(pool.map(submit, posts))
    assert statuses == {303: PEOPLE + TWICE}
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Response)) == PEOPLE
    assert session.scalar(select(func.count()).select_from(Answer)) == PEOPLE
    assert session.scalar(select(func.count()).select_from(Event).where(Event.type == "survey.answered")) == PEOPLE
    scores = Counter(session.scalars(select(Answer.value)))
    assert scores == Counter(index % 11 for index in range(PEOPLE))
