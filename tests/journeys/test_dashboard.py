"""The Journeys dashboard page through streamlit.testing: the figures are journeys.status's, the flow diagram is
drawn from the same counts, marketers pause and resume, viewers only read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from core import clock
from core.settings import Settings
from journeys.service import get_journey
from tests.journeys.support import advance, document, make_journey, people, submit_form

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


@pytest.fixture
def journey(cli_env: Path, engine: Engine, session: Session, settings: Settings) -> Iterator[str]:
    st.cache_data.clear()
    st.cache_resource.clear()
    clock.reset()
    make_journey(session, settings, document())
    submit_form(session, people(session, 5))
    advance(engine, settings, by=timedelta(seconds=1))
    yield "nurture"
    st.cache_data.clear()
    st.cache_resource.clear()


def _page(role: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["relance_user"] = {"username": "ana", "role": role}
    app.run()
    app.switch_page("views/journeys.py").run()
    assert not app.exception, app.exception
    return app


def test_the_page_shows_the_status_and_the_flow(journey: str) -> None:
    app = _page("viewer")
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Enrolled"] == "5" and metrics["Active"] == "5" and metrics["Converted (goal)"] == "0"
    assert app.title[0].value == "Journeys"
    charts = app.get("graphviz_chart")
    assert charts and '"welcome" -> "pause" [label="5"' in charts[0].proto.spec
    steps = app.dataframe[0].value
    assert list(steps["step"]) == ["welcome", "pause", "clicked", "case-study", "nudge", "tag"]
    assert int(steps.loc[steps["step"] == "pause", "waiting"].iloc[0]) == 5
    assert not [button for button in app.button if button.key in ("journey-pause", "journey-resume")]
    assert any("Viewers read journeys" in caption.value for caption in app.caption)


def test_a_marketer_pauses_and_resumes(journey: str, session: Session) -> None:
    app = _page("marketer")
    app.button(key="journey-pause").click().run()
    assert not app.exception, app.exception
    session.expire_all()
    assert get_journey(session, journey).status == "paused"
    app.button(key="journey-resume").click().run()
    session.expire_all()
    assert get_journey(session, journey).status == "live"
