"""The dashboard's Surveys page (streamlit AppTest): the figures shown are those surveys.results computes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from core.settings import get_settings
from surveys.answering import save_page
from surveys.records import Visit
from surveys.respondents import open_invitation
from surveys.results import survey_results
from tests.surveys.support import invite_contacts, make_contacts, make_survey

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


@pytest.fixture
def answered(cli_env: Path, session: Session) -> Iterator[None]:
    st.cache_data.clear()
    st.cache_resource.clear()
    make_survey(session)
    settings = get_settings()
    for index, invitation in enumerate(invite_contacts(session, "nps-2026", make_contacts(session, 8))):
        for page, form in enumerate(({"q.nps": [str(index + 3)]}, {"q.support": [str(index % 5 + 1)],
                                                                    "q.usage": ["daily"], "q.reason": ["Prix"]})):
            respondent = open_invitation(session, settings, {"i": invitation.id, "c": invitation.contact_id})
            assert save_page(session, settings, respondent, page, form, Visit()).ok
            session.commit()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def test_surveys_page_shows_the_results(answered: None, session: Session) -> None:
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state["relance_user"] = {"username": "ana", "role": "viewer"}
    app.run()
    app.switch_page("views/surveys.py").run()
    assert not app.exception, app.exception
    expected = survey_results(session, "nps-2026")
    metrics = {metric.label: metric.value for metric in app.metric}
    assert expected.nps is not None and expected.csat is not None
    assert metrics["Invited"] == "8" and metrics["Started"] == "8" and metrics["Completed"] == "0"
    assert metrics["NPS"] == f"{expected.nps.score.value:+.1f}" and metrics["CSAT"] == f"{expected.csat.value:.1f} %"
    texts = app.dataframe[-1].value.to_dict("records")
    assert len(texts) == len([t for t in expected.texts]) and texts[0]["text"] == "Prix"
    app.text_input(key="survey-segment").input("nobody").run()
    assert "no segment named 'nobody'" in app.error[0].value
