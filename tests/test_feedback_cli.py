"""`relance feedback apply`, `relance import returned-mail`, the Prefect flow and the server's background applier."""

from __future__ import annotations

import json
import time
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.models import Contact, Event, InboundRequest, Message
from core.settings import Settings
from feedback.apply import store_request
from tests.helpers import run_cli, run_cli_json
from tests.test_web_support import ledger, sendgrid_post, sg_event, web_settings


def _sendgrid_batch(session: Session, engine: Engine, size: int = 3) -> list[Message]:
    _, messages = ledger(session, size)
    events = [sg_event("delivered", m, f"x{i}@example.com") for i, m in enumerate(messages)]
    store_request(engine, "sendgrid", json.dumps(events), {})
    return messages


def test_feedback_apply_cli(cli_env: Path, engine: Engine, session: Session) -> None:
    messages = _sendgrid_batch(session, engine)
    store_request(engine, "twilio-status", "MessageSid=SMx&MessageStatus=delivered", {})
    assert run_cli_json("feedback", "pending") == {"pending": 2}
    summary = run_cli_json("feedback", "apply")
    assert summary["requests"] == 2 and summary["new_events"] == 4 and summary["by_type"]["email.delivered"] == 3
    assert summary["unknown_messages"] == 0
    session.expire_all()
    assert {session.get(Message, m.id).status for m in messages} == {"delivered"}  # type: ignore[union-attr]
    again = run_cli("feedback", "apply")
    assert again.exit_code == 0 and "Feedback applied" in again.stdout


def test_returned_mail_import(cli_env: Path, engine: Engine, session: Session) -> None:
    _, (letter,) = ledger(session, 1, channel="mail")
    by_id = Contact(address_line1="12 rue de la Gare", postcode="75010", city="PARIS")
    by_address = Contact(address_line1="5 Avenue Jean Jaurès", postcode="69007", city="LYON")
    session.add_all([by_id, by_address])
    session.commit()
    file = cli_env / "npai.csv"
    file.write_text("contact_id;piece_id;adresse;code postal;motif\n"
                    f"{by_id.id};;;;NPAI\n"
                    f";{letter.id};;;destinataire inconnu\n"
                    ";;5 avenue jean jaures;69007;NPAI\n"
                    ";;1 rue Inconnue;99999;NPAI\n", encoding="utf-8")
    summary = run_cli_json("import", "returned-mail", str(file))
    assert (summary["rows"], summary["matched"], summary["newly_invalid"], summary["unmatched"]) == (4, 3, 3, 1)
    session.expire_all()
    for contact_id in (by_id.id, by_address.id, letter.contact_id):
        assert session.get(Contact, contact_id).mail_status == "invalid"  # type: ignore[union-attr]
    assert session.get(Message, letter.id).status == "bounced"  # type: ignore[union-attr]
    again = run_cli_json("import", "returned-mail", str(file))
    assert again["events"] == 0 and again["newly_invalid"] == 0
    assert session.query(Event).filter_by(type="mail.returned").count() == 3


def test_prefect_flow_applies_pending_feedback(cli_env: Path, engine: Engine, session: Session) -> None:
    from flows.feedback import SCHEDULES, apply_feedback

    _sendgrid_batch(session, engine, 2)
    totals = apply_feedback(limit=1)
    assert totals["requests"] == 1 and totals["new_events"] == 2
    assert session.query(InboundRequest).filter_by(status="pending").count() == 0
    assert [(apply_feedback, {"interval": 60})] == SCHEDULES


def test_running_server_applies_shortly_after_acceptance(engine: Engine, settings: Settings,
                                                         session: Session) -> None:
    from fastapi.testclient import TestClient

    from web.app import create_app

    config = web_settings(settings)
    _, (message,) = ledger(session, 1)
    with TestClient(create_app(config, engine=engine, background=True, apply_interval=30)) as client:
        assert sendgrid_post(client, [sg_event("delivered", message, "a@example.com")]).status_code == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            session.expire_all()
            if session.get(Message, message.id).status == "delivered":  # type: ignore[union-attr]
                break
            time.sleep(0.05)
        assert session.get(Message, message.id).status == "delivered"  # type: ignore[union-attr]
        assert client.get("/health").json()["applier"] is True
