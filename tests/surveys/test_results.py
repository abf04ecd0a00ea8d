"""Results equal a hand computation: the funnel, distributions, NPS and CSAT with their 95 % intervals, the weekly
trend, breakdowns by language and segment, the segment and date filters, text answers."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from core import clock
from core.models import Invitation, Message, Segment, SegmentMembership
from core.settings import Settings
from surveys.answering import save_page
from surveys.records import Visit
from surveys.respondents import open_invitation
from surveys.results import survey_results
from surveys.stats import csat, nps
from tests.surveys.support import example, invite_contacts, make_contacts, make_survey

NPS_SCORES = [10, 10, 9, 9, 9, 8, 8, 7, 7, 7, 6, 5, 5, 4, 3, 2, 0, 10, 9, 6]  # 7 promoters, 5 passives, 8 detractors
CSAT_SCORES = [5, 5, 4, 4, 4, 4, 3, 3, 2, 1, 5, 4, 4, 3, 2, 1, 1, 5, 4, 3]  # 11 of 20 satisfied (4-5)
MONDAY = datetime(2026, 11, 2, 10, tzinfo=UTC)


def _save(session: Session, settings: Settings, invitation: Invitation, page: int, form: dict[str, list[str]]) -> None:
    respondent = open_invitation(session, settings, {"i": invitation.id, "c": invitation.contact_id})
    assert save_page(session, settings, respondent, page, form, Visit()).ok
    session.commit()


@pytest.fixture
def fixture_survey(session: Session, settings: Settings) -> list[Invitation]:
    """24 invitations sent: 20 answer pages 1-2 (the first 15 in week 45, the rest in week 46), 2 only page 1 of
    those complete page 3 too; 4 never answer. Contacts 0-4 speak English; contacts 0-9 form segment `vip`."""
    with clock.frozen_at(MONDAY - timedelta(days=1)):
        make_survey(session, example())
        people = make_contacts(session, 5, language="en") + make_contacts(session, 19, language="fr")
        invitations = invite_contacts(session, "nps-2026", people)
    segment = Segment(name="vip", kind="static", definition={})
    session.add(segment)
    session.flush()
    session.add_all([SegmentMembership(segment_id=segment.id, contact_id=person.id) for person in people[:10]])
    session.execute(update(Message).where(Message.id.in_([i.message_id for i in invitations[:12]]))
                    .values(status="delivered"))
    session.commit()
    for index, (score, rating) in enumerate(zip(NPS_SCORES, CSAT_SCORES, strict=True)):
        with clock.frozen_at(MONDAY + timedelta(days=0 if index < 15 else 7, minutes=index)):
            invitation = invitations[index]
            _save(session, settings, invitation, 0, {"q.nps": [str(score)]})
            page_two = {"q.support": [str(rating)], "q.usage": ["daily" if index % 2 else "weekly"]}
            if score <= 6:
                page_two["q.reason"] = [f"raison {index}"]
            _save(session, settings, invitation, 1, page_two)
            if index < 18:
                _save(session, settings, invitation, 2, {"q.newsletter": ["yes" if index % 3 else "no"],
                                                         "q.features": ["reports", "surveys"] if index % 2 else
                                                         ["other"], "q.features.other": ["API"]})
    return invitations


def test_nps_and_csat_equal_the_hand_computation(session: Session, fixture_survey: list[Invitation]) -> None:
    results = survey_results(session, "nps-2026")
    assert (results.invited, results.delivered, results.started, results.completed) == (24, 12, 20, 18)
    assert results.response_rate == pytest.approx(18 / 24)
    score = results.nps
    assert score is not None and (score.promoters, score.passives, score.detractors) == (7, 5, 8)
    p, d = 7 / 20, 8 / 20
    half = 1.959964 * 100 * math.sqrt((p + d - (p - d) ** 2) / 20)  # = 37.89
    assert score.score.value == pytest.approx(-5.0)
    assert score.score.low == pytest.approx(-5 - half, abs=1e-3)
    assert score.score.high == pytest.approx(-5 + half, abs=1e-3)
    assert (round(score.score.low, 2), round(score.score.high, 2)) == (-42.89, 32.89)
    share = results.csat
    z = 1.959964
    centre = (0.55 + z * z / 40) / (1 + z * z / 20)
    spread = z * math.sqrt(0.55 * 0.45 / 20 + z * z / 1600) / (1 + z * z / 20)
    assert share is not None and share.value == pytest.approx(55.0)
    assert (share.low, share.high) == (pytest.approx(100 * (centre - spread), abs=1e-3),
                                       pytest.approx(100 * (centre + spread), abs=1e-3))
    assert (round(share.low, 1), round(share.high, 1)) == (34.2, 74.2)


def test_distributions_trend_breakdowns_and_texts(session: Session, fixture_survey: list[Invitation]) -> None:
    results = survey_results(session, "nps-2026", language="fr")
    by_name = {question.name: question for question in results.questions}
    nps_counts = {row["value"]: row["count"] for row in by_name["nps"].distribution}
    assert nps_counts == {0: 1, 1: 0, 2: 1, 3: 1, 4: 1, 5: 2, 6: 2, 7: 3, 8: 2, 9: 4, 10: 3}
    assert by_name["support"].mean == pytest.approx(sum(CSAT_SCORES) / 20)
    assert {row["value"]: row["count"] for row in by_name["usage"].distribution} == {
        "daily": 10, "weekly": 10, "monthly": 0, "other": 0}
    features = {row["value"]: row["count"] for row in by_name["features"].distribution}
    assert features == {"reports": 9, "campaigns": 0, "surveys": 9, "scoring": 0, "other": 9}
    assert by_name["reason"].respondents == 8 and by_name["liked"].respondents == 0
    assert [row["label"] for row in by_name["newsletter"].distribution] == ["yes", "no"]
    assert [(row["week"], row["completed"]) for row in results.trend] == [("2026-W45", 15), ("2026-W46", 3)]
    first_week = NPS_SCORES[:15]
    expected = nps(sum(s >= 9 for s in first_week), sum(7 <= s <= 8 for s in first_week),
                   sum(s <= 6 for s in first_week))
    assert expected is not None and results.trend[0]["nps"]["nps"] == pytest.approx(expected.score.value)
    languages = {row["key"]: row for row in results.by_language}
    assert (languages["en"]["responses"], languages["fr"]["responses"]) == (5, 15)
    english = nps(*(sum(test(s) for s in NPS_SCORES[:5]) for test in (
        lambda s: s >= 9, lambda s: 7 <= s <= 8, lambda s: s <= 6)))
    assert english is not None and languages["en"]["nps"]["nps"] == pytest.approx(english.score.value)
    assert {row["key"]: row["responses"] for row in results.by_segment} == {"vip": 10}
    assert [row["key"] for row in results.by_channel] == ["email"]
    reasons = [row for row in results.texts if row["question"] == "reason"]
    assert len(reasons) == 8 and reasons[0]["question_text"] == "Que devrions-nous améliorer en priorité ?"
    assert sum(row["other"] for row in results.texts) == 9  # the "API" other-texts


def test_segment_and_since_filters(session: Session, fixture_survey: list[Invitation]) -> None:
    vip = survey_results(session, "nps-2026", segment="vip")
    assert (vip.invited, vip.started) == (10, 10)
    first_ten = NPS_SCORES[:10]
    assert vip.nps is not None and vip.nps.promoters == sum(s >= 9 for s in first_ten)
    later = survey_results(session, "nps-2026", since=MONDAY + timedelta(days=3))
    assert later.invited == 0 and later.nps is not None and later.nps.n == 5  # responses started in week 46
    expected = csat(sum(r >= 4 for r in CSAT_SCORES[15:]), 5)
    assert later.csat is not None and expected is not None and later.csat.value == pytest.approx(expected.value)
    with pytest.raises(LookupError, match="no segment named 'nobody'"):
        survey_results(session, "nps-2026", segment="nobody")


def test_an_empty_survey_has_no_score(session: Session) -> None:
    make_survey(session)
    results = survey_results(session, "nps-2026")
    assert results.nps is None and results.csat is None and results.response_rate is None
    assert results.as_dict()["questions"][0]["respondents"] == 0
    assert nps(0, 0, 0) is None and csat(0, 0) is None
    assert nps(1, 0, 0) is not None and nps(1, 0, 0).score.high == 100.0  # type: ignore[union-attr]
