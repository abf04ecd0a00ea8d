"""A survey goes out through a campaign: one invitation per ledger message, the email carries the signed link and
the first question as one-tap links; tapping one in the sent email records the answer and opens the next page."""

from __future__ import annotations

import html
import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.dispatcher import Dispatcher
from campaigns.sending import start_campaign
from connectors.memory import MemoryBackend
from core.links import read_link_token
from core.models import Answer, Campaign, Invitation, Message
from core.settings import Settings
from surveys.service import close_survey, get_survey
from tests.campaign_support import make_audience, make_campaign
from tests.surveys.support import make_survey
from tests.test_web_support import make_client, web_settings


def _send(session: Session, settings: Settings, campaign: Campaign, mailbox: MemoryBackend) -> None:
    start_campaign(session, settings, campaign)
    session.commit()
    dispatcher = Dispatcher(session.get_bind(), settings, backends={"email": mailbox})  # type: ignore[arg-type]
    dispatcher.run(campaign.id)


def test_campaign_invites_its_ledger_and_the_email_answers_in_one_tap(session: Session, settings: Settings) -> None:
    config = web_settings(settings)
    make_survey(session)
    people = make_audience(session, 6)
    people[5].language = "en"
    session.commit()
    campaign = make_campaign(session, name="nps-wave-1", template="survey-invitation", survey="nps-2026",
                             holdout=0.2)
    mailbox = MemoryBackend("email")
    _send(session, config, campaign, mailbox)
    sent = session.scalars(select(Message).where(Message.campaign_id == campaign.id, Message.status == "sent")).all()
    invitations = {item.message_id: item for item in session.scalars(select(Invitation))}
    assert sent and set(invitations) == {message.id for message in sent}  # held-out contacts are not invited
    assert all(item.expires_at is not None and item.channel == "email" for item in invitations.values())

    email = next(message for message in mailbox.sent if message.message_id == sent[0].id)
    body = html.unescape(email.html or "")
    links = re.findall(r'href="(https://relance\.test/s/[^"]+)"', body)
    assert len(links) == 12  # 11 scores (0-10) and the button
    token = links[-1].rsplit("/s/", 1)[1]
    assert read_link_token(config, "survey", token) == {"i": sent[0].id, "c": sent[0].contact_id}
    assert links[9].endswith("/a/nps/9") and "Quelle est la probabilité" in body
    assert "/t/c/" not in "".join(links)  # survey links are not wrapped by the click redirect
    english = next((m for m in mailbox.sent if m.to == people[5].email), None)
    if english is not None:
        assert "How likely are you" in (english.html or "")

    with make_client(session.get_bind(), config) as client:  # type: ignore[arg-type]
        tapped = client.get(links[9].removeprefix(config.public_url), follow_redirects=False,
                            headers={"User-Agent": "Mozilla/5.0 (Macintosh) Safari/605.1.15"})
    assert tapped.status_code == 303 and tapped.headers["location"].endswith("?page=2&from=tap")
    assert session.scalars(select(Answer.value)).one() == 9


def test_a_campaign_needs_an_open_survey(session: Session, settings: Settings) -> None:
    import pytest

    from campaigns.definition import CampaignDefinitionError

    make_audience(session, 2)
    with pytest.raises(CampaignDefinitionError, match="survey: no survey named 'nps-2026'"):
        make_campaign(session, template="survey-invitation", survey="nps-2026")
    session.rollback()
    make_survey(session)
    close_survey(session, get_survey(session, "nps-2026"))
    session.commit()
    with pytest.raises(CampaignDefinitionError, match="survey 'nps-2026' is closed"):
        make_campaign(session, template="survey-invitation", survey="nps-2026")
    assert session.scalar(select(func.count()).select_from(Invitation)) == 0
