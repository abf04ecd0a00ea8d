"""The demo step drives responses to a sent campaign through the signed endpoints and changes the records."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cli.demo.context import DemoCampaign, DemoContext
from cli.demo.feedback import run
from core.models import Consent, Conversion, Event, InboundRequest, Message
from core.settings import Settings
from tests.test_web_support import ledger


def test_demo_step_on_a_sent_campaign(engine: Engine, settings: Settings, session: Session, tmp_path: Path) -> None:
    campaign, emails = ledger(session, 30)
    _, texts = ledger(session, 10, channel="sms")
    for text in texts:  # one multichannel campaign, as the campaigns step builds it
        text.campaign_id = campaign.id
    session.commit()
    context = DemoContext(engine=engine, settings=settings, console=Console(file=(tmp_path / "out.txt").open("w"),
                                                                            width=120), workdir=tmp_path, seed=7)
    context.campaign = DemoCampaign(campaign.id, campaign.name)
    result = run(context)
    assert result.summary.failed_requests == 0 and result.summary.duplicates >= 20
    assert result.answers["POST /webhooks/sendgrid → 200"] == 2
    assert not any(key.endswith("→ 403") or key.endswith("→ 500") for key in result.answers)
    session.expire_all()
    statuses = {m.status for m in session.scalars(select(Message).where(Message.campaign_id == campaign.id))}
    assert "delivered" in statuses
    assert {session.get(Message, m.id).status for m in texts} <= {"delivered", "failed"}  # type: ignore[union-attr]
    assert session.query(Event).filter_by(type="email.complained").count() == 1
    assert session.query(Event).filter(Event.type == "email.opened").count() >= 1
    assert session.query(Conversion).count() >= 2
    assert session.query(Consent).filter_by(status="pending").count() == 1  # the newsletter double opt-in
    assert session.query(InboundRequest).filter_by(status="pending").count() == 0
    focus = result.focus_contact
    assert focus in {m.contact_id for m in emails}
    assert {"email.clicked", "conversion"} <= {e.type for e in session.scalars(select(Event).where(
        Event.contact_id == focus))}
    assert "Timeline of contact" in (tmp_path / "out.txt").read_text()
