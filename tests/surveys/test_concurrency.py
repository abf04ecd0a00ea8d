"""200 people submit at the same moment through real HTTP (uvicorn), on SQLite and PostgreSQL: nothing is lost, and
a page posted twice at once by the same person still makes one response."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core.models import Answer, Event, Response
from core.settings import Settings
from tests.surveys.support import invite_contacts, make_contacts, make_survey, path_of
from tests.web_server import served_app

pytestmark = pytest.mark.slow
PEOPLE = 200
TWICE = 20  # the first 20 people post their page twice, concurrently


@pytest.fixture
def server(engine: Engine, settings: Settings) -> Iterator[Settings]:
    with served_app(engine, settings, background=False) as config:
        yield config


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
