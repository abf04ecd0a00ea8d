"""The weekly PDF report has a survey section: each survey answered in the period with NPS, CSAT, intervals."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from core import clock
from core.settings import Settings
from reports.pdf import gather, last_days, render_html, render_pdf
from surveys.answering import save_page
from surveys.records import Visit
from surveys.respondents import open_invitation
from surveys.results import survey_results
from tests.surveys.support import example, invite_contacts, make_contacts, make_survey


def test_weekly_report_has_the_survey_section(session: Session, settings: Settings) -> None:
    make_survey(session)
    make_survey(session, example("csat-support"))
    invitations = invite_contacts(session, "nps-2026", make_contacts(session, 6))
    with clock.frozen_at(clock.now() - timedelta(days=2)):
        for index, invitation in enumerate(invitations):
            respondent = open_invitation(session, settings, {"i": invitation.id, "c": invitation.contact_id})
            assert save_page(session, settings, respondent, 0, {"q.nps": [str(4 + index)]}, Visit()).ok
            session.commit()
    data = gather(session, settings, last_days(7))
    assert [found.survey for found in data.surveys] == ["nps-2026"]  # the unanswered survey is left out
    expected = survey_results(session, "nps-2026", since=data.period.since)
    assert expected.nps is not None
    html = render_html(data)
    assert "<h2>Surveys</h2>" in html and "Votre avis sur nos services" not in html
    assert f"{expected.nps.score.value:+.0f} ({expected.nps.score.low:+.0f} to {expected.nps.score.high:+.0f})" in html
    assert 'alt="detractors, passives and promoters per survey"' in html
    assert render_pdf(data).startswith(b"%PDF")
