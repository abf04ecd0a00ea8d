"""Survey budgets: results of a 10,000-response survey (< 1 s) and the answer page's server time (< 50 ms), each
against a floor measured in the same run — the bare grouped count over the same answers, and a bare page from the
same app.

Usage: python -m bench.surveys [--responses 10000] [--url postgresql+psycopg://...] [--requests 200]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session

from campaigns.invitations import invite, survey_ref
from core import clock
from core.db import make_engine
from core.links import link_token
from core.migrate import upgrade
from core.models import Answer, Campaign, Contact, Invitation, Message, Response
from core.settings import Settings
from surveys.respondents import respondent_key
from surveys.results import survey_results
from surveys.service import create_survey
from tests.surveys.support import example

RESULTS_BUDGET, PAGE_BUDGET = 1.0, 0.050


def _best(work: Callable[[], Any], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def _answers(rng: random.Random, response_id: int, survey_id: int, at: Any) -> list[dict[str, Any]]:
    score = rng.choices(range(11), weights=(2, 1, 1, 2, 2, 4, 6, 10, 16, 22, 18))[0]
    rows = [("nps", 0, float(score), score, None), ("support", 1, float(rng.randint(1, 5)), None, None),
            ("usage", 1, None, rng.choice(("daily", "weekly", "monthly")), None),
            ("features", 2, None, rng.sample(["reports", "campaigns", "surveys", "scoring"], 2), None),
            ("aspects.price", 2, float(rng.randint(1, 5)), None, None)]
    if score <= 6:
        rows.append(("reason", 1, None, f"réponse libre {response_id}", f"réponse libre {response_id}"))
    return [{"response_id": response_id, "survey_id": survey_id, "question": question, "page": page, "number": number,
             "value": value if value is not None else number and int(number), "text": note, "answered_at": at}
            for question, page, number, value, note in rows]


def seed(engine: Engine, settings: Settings, count: int) -> tuple[int, str]:
    """`count` invited contacts who all answered, set-based; returns the survey id and one partial token."""
    rng = random.Random(7)
    with Session(engine) as session:
        survey = create_survey(session, example()).survey
        session.execute(insert(Contact), [{"email": f"bench{i}@example.org", "language": ("fr", "en")[i % 2]}
                                          for i in range(count)])
        campaign = Campaign(name=f"bench-survey-{uuid.uuid4().hex[:6]}", channels=["email"], status="sending",
                            definition={"survey": survey.name})
        session.add(campaign)
        session.flush()
        session.execute(text("INSERT INTO messages (id, campaign_id, contact_id, rotation, channel, status, attempts, "
                             "parts, created_at, updated_at) SELECT :prefix || id, :campaign, id, 0, 'email', "
                             "'queued', 0, 1, :now, :now FROM contacts"),
                        {"prefix": uuid.uuid4().hex[:8], "campaign": campaign.id, "now": clock.now()})
        invite(session, campaign.id, survey_ref(session, survey.name))
        session.execute(Message.__table__.update().values(status="delivered"))
        invitations = session.execute(select(Invitation.id, Invitation.contact_id)).all()
        start = clock.now() - timedelta(days=56)
        rows, answers = [], []
        for index, (invitation_id, contact_id) in enumerate(invitations):
            at = start + timedelta(minutes=index * 8)
            rows.append({"id": index + 1, "survey_id": survey.id, "version_id": 1, "invitation_id": invitation_id,
                         "respondent_key": respondent_key(settings, invitation_id), "contact_id": contact_id,
                         "channel": "email", "language": ("fr", "en")[index % 2], "status": "completed",
                         "next_page": 3, "started_at": at, "updated_at": at, "completed_at": at})
            answers += _answers(rng, index + 1, survey.id, at)
        session.execute(insert(Response), rows)
        session.execute(insert(Answer), answers)
        session.execute(Invitation.__table__.update().values(started_at=start, completed_at=start))
        partial = invitations[0]
        session.execute(Response.__table__.update().where(Response.id == 1).values(status="partial", next_page=1))
        survey_id = survey.id
        session.commit()
    return survey_id, link_token(settings, "survey", {"i": partial[0], "c": partial[1]})


def bench_results(engine: Engine, survey_id: int, count: int) -> None:
    with Session(engine) as session:
        ours = _best(lambda: survey_results(session, "nps-2026"))
        floor = _best(lambda: session.execute(select(Answer.question, Answer.number, func.count())
                                              .where(Answer.survey_id == survey_id)
                                              .group_by(Answer.question, Answer.number)).all())
        found = survey_results(session, "nps-2026")
    assert found.nps is not None
    print(f"results of {count:,} responses ({found.nps.n:,} NPS answers, NPS {found.nps.score.value:+.1f}): "
          f"{ours * 1000:.0f} ms — funnel, {len(found.questions)} questions, trend, breakdowns, texts")
    print(f"floor — one bare grouped count over the same answers: {floor * 1000:.1f} ms; ratio {ours / floor:.1f}x; "
          f"budget {RESULTS_BUDGET:.0f} s: {'OK' if ours < RESULTS_BUDGET else 'MISSED'}")


def bench_page(engine: Engine, settings: Settings, token: str, requests: int) -> None:
    from fastapi.testclient import TestClient

    from web.app import create_app

    app = create_app(settings, engine=engine, background=False)
    timings: dict[str, list[float]] = {}

    @app.middleware("http")
    async def server_time(request: Any, call_next: Any) -> Any:
        start = time.perf_counter()
        response = await call_next(request)
        timings.setdefault(request.url.path.split("/")[1] + request.method, []).append(time.perf_counter() - start)
        return response

    @app.get("/floor")
    def floor() -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>floor</title><p>static</p>")

    with TestClient(app) as client:
        for _ in range(requests):
            client.get("/floor")
            assert client.get(f"/s/{token}?page=2").status_code == 200
            assert client.post(f"/s/{token}", data={"page": "2", "q.support": "4", "q.usage": "daily"},
                               follow_redirects=False).status_code == 303
    view, save, bare = (statistics.median(timings[key]) for key in ("sGET", "sPOST", "floorGET"))
    print(f"answer page, server time (median of {requests}): GET {view * 1000:.1f} ms, POST (validate, save, event, "
          f"write-back) {save * 1000:.1f} ms")
    print(f"floor — a static page from the same app: {bare * 1000:.2f} ms; ratio GET {view / bare:.0f}x; "
          f"budget {PAGE_BUDGET * 1000:.0f} ms: {'OK' if max(view, save) < PAGE_BUDGET else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--responses", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--url", help="database URL (default: a fresh SQLite file); must be an empty database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.url or f"sqlite:///{Path(folder) / 'bench.db'}"
        engine = make_engine(url)
        upgrade(engine)
        settings = Settings(_env_file=None, database_url=url, public_url="https://go.example.net")  # type: ignore[call-arg]
        started = time.perf_counter()
        survey_id, token = seed(engine, settings, args.responses)
        print(f"{engine.dialect.name}: seeded {args.responses:,} responses in {time.perf_counter() - started:.1f} s")
        bench_results(engine, survey_id, args.responses)
        bench_page(engine, settings, token, args.requests)
        engine.dispose()


if __name__ == "__main__":
    main()
