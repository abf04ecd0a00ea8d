"""`relance campaign` end to end through the CLI: create from the example YAML, plan, send, status, pause, resume,
cancel, and clear errors for bad definitions."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.settings import get_settings
from tests.campaign_support import make_audience
from tests.helpers import run_cli, run_cli_json

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "campaigns"


def test_create_plan_send_and_status_from_the_example(cli_env: Path, engine: Engine, session: Session) -> None:
    make_audience(session, 12, segment="engaged-french-leads")
    created = run_cli_json("campaign", "create", str(EXAMPLES / "spring-offer.yaml"))
    assert created["status"] == "draft" and created["channels"] == ["email"]
    plan = run_cli_json("campaign", "plan", "spring-offer")
    assert plan["audience"] == 12 and plan["dry_run"] is True
    assert plan["to_send"] + plan["held_out"] == 12 and plan["fixed_cost"] == "300"
    assert plan["estimated_cost"] == f"{plan['to_send'] * 0.002:.4f}"
    assert len(plan["samples"]) == 1 and plan["samples"][0]["preview"]
    human = run_cli("campaign", "plan", "spring-offer")
    assert human.exit_code == 0 and "Estimated cost" in human.output and "held out" in human.output
    status = run_cli_json("campaign", "send", "spring-offer", "--wait")
    assert status["status"] == "completed" and status["sent"] == plan["to_send"]
    assert status["by_status"].get("held_out", 0) == plan["held_out"]
    assert len(list((cli_env / "outbox" / "email").glob("*.eml"))) == plan["to_send"]
    again = run_cli("campaign", "send", "spring-offer")
    assert again.exit_code == 1 and "completed" in again.output
    listed = run_cli_json("campaign", "list")
    assert [(row["campaign"], row["status"]) for row in listed] == [("spring-offer", "completed")]


def test_bad_definitions_name_the_offending_path(cli_env: Path, engine: Engine, session: Session) -> None:
    make_audience(session, 1)
    bad = cli_env / "bad.yaml"
    bad.write_text("name: x\nsegment: audience\nchannel: fax\ntemplate: welcome\nholdout: 2\n")
    result = run_cli("campaign", "create", str(bad))
    output = " ".join(result.output.split())
    assert result.exit_code == 2
    assert "channel" in output and "fax" in output and "holdout: Input should be less than 1" in output
    unknown = cli_env / "unknown.yaml"
    unknown.write_text("name: y\nsegment: nobody\nchannel: sms\ntemplate: welcome\n")
    result = run_cli("campaign", "create", str(unknown))
    output = " ".join(result.output.split())  # Rich wraps long lines
    assert result.exit_code == 2
    assert "segment: no segment named 'nobody'" in output and "template 'welcome' is for email, not sms" in output


def test_pause_resume_cancel_and_schedule(cli_env: Path, engine: Engine, session: Session) -> None:
    make_audience(session, 3)
    campaign = cli_env / "later.yaml"
    campaign.write_text("name: later\nsegment: audience\nchannel: email\ntemplate: newsletter\n"
                        "schedule: 2099-01-01T09:00:00+01:00\n")
    assert run_cli_json("campaign", "create", str(campaign))["status"] == "scheduled"
    scheduled = run_cli_json("campaign", "send", "later")
    assert scheduled["status"] == "scheduled"  # not before its time without --now
    assert run_cli("campaign", "pause", "later").exit_code == 0
    refused = run_cli("campaign", "send", "later", "--now")
    assert refused.exit_code == 1 and "resume it first" in refused.output
    assert run_cli("campaign", "resume", "later").exit_code == 0
    sent = run_cli_json("campaign", "send", "later", "--now")
    assert sent["status"] == "completed" and sent["sent"] == 3
    assert run_cli("campaign", "cancel", "later", "--yes").exit_code == 1  # already completed


def test_status_of_an_unknown_campaign_is_a_clear_error(cli_env: Path, engine: Engine) -> None:
    result = run_cli("campaign", "status", "ghost")
    assert result.exit_code == 1 and "no campaign named 'ghost'" in result.output


def test_a_misconfigured_channel_stops_send_before_anything_is_planned(
        cli_env: Path, engine: Engine, session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    make_audience(session, 2, segment="engaged-french-leads")
    run_cli_json("campaign", "create", str(EXAMPLES / "spring-offer.yaml"))
    monkeypatch.setenv("RELANCE_CHANNELS", '{"email": {"backend": "sendgrid", "options": {}}}')
    get_settings.cache_clear()
    result = run_cli("campaign", "send", "spring-offer")
    output = " ".join(result.output.split())
    assert result.exit_code == 1 and "channel 'email'" in output and "api_key" in output
    assert run_cli_json("campaign", "status", "spring-offer")["by_status"] == {}  # nothing planned
