"""`relance journey`: create → publish → enroll → advance → status / preview / list, pause / resume / archive, all
with --json; refusals are one-line errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy.orm import Session

from core import clock
from templates.pipeline import sync_library
from tests.helpers import run_cli, run_cli_json
from tests.journeys.support import document, people, submit_form


def _file(workdir: Path, **overrides: object) -> Path:
    path = workdir / "journey.yaml"
    path.write_text(yaml.safe_dump(document(**overrides)), encoding="utf-8")
    return path


def test_create_publish_advance_status_and_preview(cli_env: Path, session: Session) -> None:
    clock.freeze(datetime(2026, 6, 1, 8, 0, tzinfo=UTC))
    sync_library(session)
    session.commit()
    created = run_cli_json("journey", "create", str(_file(cli_env)))
    assert created == {"journey": "nurture", "status": "draft", "draft": "created", "live_version": None}
    assert run_cli_json("journey", "create", str(_file(cli_env)))["draft"] == "unchanged"
    published = run_cli_json("journey", "publish", "nurture")
    assert published["version"] == 1 and set(published["campaigns"]) == {"welcome", "case-study", "nudge"}
    contacts = people(session, 3)
    submit_form(session, contacts)
    clock.travel(timedelta(minutes=1))
    tick = run_cli_json("journey", "advance")
    assert tick["journeys"][0]["enrolled"] == 3 and tick["sent"] == 3
    listed = run_cli_json("journey", "list")
    assert listed[0]["journey"] == "nurture" and listed[0]["active"] == 3 and listed[0]["version"] == 1
    status = run_cli_json("journey", "status", "nurture")
    assert status["enrolled"] == 3 and status["steps"][0]["sent"] == 3 and status["steps"][1]["waiting"] == 3
    shown = run_cli("journey", "status", "nurture")
    assert shown.exit_code == 0 and "welcome" in shown.output and "Enrolled 3" in shown.output
    path = run_cli_json("journey", "preview", "nurture", "--contact", contacts[0].email or "")
    assert [line["step"] for line in path["path"]][:3] == ["welcome", "pause", "clicked"]
    text = run_cli("journey", "preview", "nurture", "--contact", contacts[0].email or "")
    assert text.exit_code == 0 and "Path today" in text.output


def test_enroll_pause_resume_archive(cli_env: Path, session: Session) -> None:
    clock.freeze(datetime(2026, 6, 1, 8, 0, tzinfo=UTC))
    sync_library(session)
    session.commit()
    run_cli_json("journey", "create", str(_file(cli_env, trigger="manual")))
    run_cli_json("journey", "publish", "nurture")
    contacts = people(session, 3)
    listed = cli_env / "list.csv"
    listed.write_text("email\n" + "\n".join(contact.email or "" for contact in contacts[:2]) + "\nghost@x.org\n")
    assert run_cli_json("journey", "enroll", "nurture", str(listed)) == {"journey": "nurture", "enrolled": 2}
    assert run_cli_json("journey", "enroll", "nurture", "--segment", "audience")["enrolled"] == 1
    assert run_cli_json("journey", "pause", "nurture", "--reason", "copy review") == {"journey": "nurture",
                                                                                    "status": "paused"}
    assert run_cli_json("journey", "advance")["journeys"] == []
    paused_again = run_cli("journey", "pause", "nurture")
    assert paused_again.exit_code == 1 and "only a live journey" in paused_again.output
    assert run_cli_json("journey", "resume", "nurture")["status"] == "live"
    assert run_cli_json("journey", "advance")["sent"] == 3
    archived = run_cli_json("journey", "archive", "nurture", "--yes")
    assert archived == {"journey": "nurture", "status": "archived", "enrollments_ended": 3}


def test_refusals_are_clear(cli_env: Path, session: Session) -> None:
    sync_library(session)
    session.commit()
    missing = run_cli("journey", "status", "nope")
    assert missing.exit_code == 1 and "no journey named 'nope'" in missing.output
    unknown_template = _file(cli_env, steps=[{"id": "a", "send": {"channel": "email", "template": "nope"}}])
    result = run_cli("journey", "create", str(unknown_template))
    assert result.exit_code == 2 and "steps[0].send.template" in result.output and "nope" in result.output
    run_cli_json("journey", "create", str(_file(cli_env)))
    result = run_cli("journey", "enroll", "nurture", "--segment", "audience")
    assert result.exit_code == 1 and "publish it first" in result.output
    bad = run_cli("journey", "publish", "nurture", "--migrate", "oops")
    assert bad.exit_code == 1 and "old_step=new_step" in bad.output
