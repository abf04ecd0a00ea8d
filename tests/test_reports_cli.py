"""`relance report` and `relance user`, the weekly report flow and the demo step, end to end."""

from __future__ import annotations

import csv
import email
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from campaigns.service import get_campaign
from cli.demo.context import DemoCampaign, DemoContext
from core import clock
from core.db import session_scope
from core.models import AuditLog, User
from core.settings import Settings, get_settings
from core.users import authenticate
from reports.service import roi_report
from tests.helpers import run_cli, run_cli_json
from tests.report_seed import PASSWORD, Seeded, seed


@pytest.fixture
def seeded(cli_env: Path, session: Session) -> Seeded:
    return seed(session, users=False)


def test_roi_json_and_csv(seeded: Seeded, session: Session) -> None:
    shown = run_cli_json("report", "roi")
    expected = json.loads(json.dumps(roi_report(session, get_settings()), default=str))
    assert shown == expected
    rows = {row["campaign"]: row for row in shown["campaigns"]}
    assert rows[Seeded.campaign]["cost"] == "25.20" and rows[Seeded.campaign]["revenue"] == "305.50"
    assert rows[Seeded.sms_campaign]["cost"] == "0.75" and rows[Seeded.sms_campaign]["revenue"] == "39.80"
    assert shown["total"]["cost"] == "25.95" and shown["total"]["revenue"] == "345.30"
    result = run_cli("report", "roi", "--csv", "--model", "linear")
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {row["campaign"]: row["revenue"] for row in table} == {Seeded.campaign: "305.50",
                                                                  Seeded.sms_campaign: "39.80"}
    assert table[0]["roi"].count(".") == 1 and len(table[0]["roi"].split(".")[1]) == 4
    assert table[0]["channels"] in ("email", "sms")


def test_refresh_builds_the_caches_for_the_configured_window(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    first = run_cli_json("report", "refresh")
    assert first["new_messages"] == 50 and first["skipped"] is False and first["window_days"] == 30
    assert run_cli_json("report", "refresh")["new_messages"] == 0  # nothing new since
    monkeypatch.setenv("RELANCE_ATTRIBUTION_WINDOW_DAYS", "7")
    get_settings.cache_clear()
    rebuilt = run_cli_json("report", "refresh", "--full")
    assert rebuilt["new_messages"] == 50 and rebuilt["window_days"] == 7
    result = run_cli("report", "refresh")
    assert result.exit_code == 0 and "refreshed: 0 new message(s)" in result.output


def test_roi_table_and_errors(seeded: Seeded) -> None:
    result = run_cli("report", "roi", "--campaign", Seeded.campaign)
    assert result.exit_code == 0 and "25.20" in result.output and "0.75" not in result.output  # spring-sale only
    assert "ROI = (revenue − cost) / cost" in result.output
    unknown = run_cli("report", "roi", "--campaign", "nope")
    assert unknown.exit_code == 1 and "no campaign named 'nope'" in unknown.output
    bad = run_cli("report", "roi", "--model", "u-shaped")
    assert bad.exit_code == 2 and "unknown attribution model" in bad.output


def test_campaign_report(seeded: Seeded) -> None:
    report = run_cli_json("report", "campaign", Seeded.campaign)
    assert report["funnel"]["sent"] == 40 and report["funnel"]["rates"]["delivery rate"]["of"] == "delivered / sent"
    assert report["ab_test"]["winner"] == "A"
    assert report["holdout"]["treated"]["contacts"] == 40 and report["holdout"]["held_out"]["contacts"] == 10
    assert set(report["revenue_by_model"]) == {"last-touch", "first-touch", "linear", "time-decay"}
    text = run_cli("report", "campaign", Seeded.campaign)
    assert text.exit_code == 0, text.output
    for heading in ("Funnel (messages)", "Rates (numerator / denominator)", "A/B test on clicked / sent", "Holdout",
                    "Costs by channel, provider and country"):
        assert heading in text.output


def test_pdf(seeded: Seeded, cli_env: Path) -> None:
    out = cli_env / "reports" / "week.pdf"
    today = clock.now().date()
    result = run_cli("report", "pdf", "--out", str(out), "--since", str(today - timedelta(days=30)),
                     "--until", str(today))
    assert result.exit_code == 0, result.output
    content = out.read_bytes()
    assert content.startswith(b"%PDF-") and content.rstrip().endswith(b"%%EOF") and len(content) > 20_000
    assert "2 campaign(s)" in result.output


def test_pdf_html_has_every_section(seeded: Seeded, session: Session) -> None:
    from reports.pdf import gather, last_days, render_html

    data = gather(session, get_settings(), last_days(30, end=clock.now().date()))
    html = render_html(data)
    for text in ("Return on investment by campaign", "Did it cause anything? Holdout tests", "A/B tests",
                 "How much the attribution model matters", "25.95 EUR", "data:image/svg+xml;base64,"):
        assert text in html
    from weasyprint import HTML

    assert len(HTML(string=html).render().pages) >= 2


def test_exchange_rates(cli_env: Path, engine: Engine) -> None:
    result = run_cli("report", "rate", "set", "usd", "0.92", "--from", "2026-01-01")
    assert result.exit_code == 0 and "1 USD = 0.92" in result.output
    run_cli("report", "rate", "set", "USD", "0.95", "--from", "2026-01-01")  # the same day: replaced
    listed = run_cli_json("report", "rate", "list")
    assert [(row["currency"], row["rate"]) for row in listed["rates"]] == [("USD", "0.95000000")]
    for args, message in ((("EUR", "1"), "is the report currency"), (("USD", "0"), "positive number"),
                          (("DOLLARS", "1"), "3-letter ISO code"), (("USD", "abc"), "must be a number")):
        bad = run_cli("report", "rate", "set", *args)
        assert bad.exit_code == 1 and message in bad.output


def test_users(cli_env: Path, session: Session) -> None:
    added = run_cli("user", "add", "ana", "--role", "admin", "--password-stdin", input=f"{PASSWORD}\n")
    assert added.exit_code == 0, added.output
    prompted = run_cli("user", "add", "vera", "--role", "viewer", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert prompted.exit_code == 0, prompted.output
    assert [(row["username"], row["role"]) for row in run_cli_json("user", "list")] == [("ana", "admin"),
                                                                                       ("vera", "viewer")]
    stored = session.scalars(select(User).where(User.username == "ana")).one()
    assert stored.password_hash.startswith("scrypt$") and PASSWORD not in stored.password_hash
    assert authenticate(session, "ana", PASSWORD) is not None and authenticate(session, "ana", "nope") is None
    assert authenticate(session, "nobody", PASSWORD) is None
    again = run_cli("user", "add", "ana", "--role", "viewer", "--password-stdin", input=f"{PASSWORD}\n")
    assert again.exit_code == 1 and "already exists" in again.output
    assert run_cli("user", "add", "bob", "--role", "owner", "--password-stdin", input="x\n").exit_code == 2
    short = run_cli("user", "add", "bob", "--role", "viewer", "--password-stdin", input="short\n")
    assert short.exit_code == 1 and "at least 8 characters" in short.output
    assert run_cli("user", "role", "vera", "marketer").exit_code == 0
    assert run_cli("user", "remove", "vera", "--yes").exit_code == 0
    assert [row["username"] for row in run_cli_json("user", "list")] == ["ana"]
    session.expire_all()
    actions = [row.action for row in session.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions == ["user.added", "user.added", "user.role_changed", "user.removed"]


def test_weekly_report_flow_emails_the_pdf(seeded: Seeded, cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.reports import SCHEDULES, weekly_report

    monkeypatch.setenv("RELANCE_REPORT_RECIPIENTS", "boss@example.fr, cfo@example.fr")
    get_settings.cache_clear()
    result = weekly_report(days=30)
    assert [row["to"] for row in result["sent"]] == ["boss@example.fr", "cfo@example.fr"]
    assert all(row["outcome"] == "accepted" for row in result["sent"])
    files = sorted((cli_env / "outbox" / "email").glob("report-*.eml"))
    assert len(files) == 2
    message = email.message_from_bytes(files[0].read_bytes())
    assert message["Subject"].startswith("Relance report:")
    attachments = [part for part in message.walk() if part.get_content_type() == "application/pdf"]
    assert len(attachments) == 1 and attachments[0].get_payload(decode=True).startswith(b"%PDF")
    assert (weekly_report, {"cron": "0 7 * * 1"}) in SCHEDULES


def test_weekly_report_flow_without_recipients(cli_env: Path, engine: Engine) -> None:
    from flows.reports import weekly_report

    assert weekly_report() == {"sent": [], "skipped": "no recipients"}


def test_recipients_setting_accepts_commas_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELANCE_REPORT_RECIPIENTS", '["a@example.fr"]')
    assert Settings(_env_file=None).report_recipients == ["a@example.fr"]  # type: ignore[call-arg]
    monkeypatch.setenv("RELANCE_REPORT_RECIPIENTS", "a@example.fr,  b@example.fr ,")
    assert Settings(_env_file=None).report_recipients == ["a@example.fr", "b@example.fr"]  # type: ignore[call-arg]


def _demo_context(engine: Engine, settings: Settings, workdir: Path,
                  campaign: DemoCampaign | None = None) -> tuple[DemoContext, Console]:
    console = Console(record=True, width=400)
    context = DemoContext(engine=engine, settings=settings, console=console, workdir=workdir, campaign=campaign)
    return context, console


def test_demo_step_with_campaigns(seeded: Seeded, engine: Engine, settings: Settings, tmp_path: Path) -> None:
    from cli.demo.reports import run

    with session_scope(engine) as session:
        campaign_id = get_campaign(session, Seeded.campaign).id
    context, console = _demo_context(engine, settings, tmp_path, DemoCampaign(campaign_id, Seeded.campaign))
    report = run(context)
    output = console.export_text()
    assert "ROI of the demo campaigns" in output and "spring-sale" in output and "25.95" in output
    assert "Holdout of spring-sale" in output and "relance dashboard" in output and "demo / relance-demo" in output
    assert (tmp_path / "relance-report.pdf").read_bytes().startswith(b"%PDF")
    assert report is not None and len(report["campaigns"]) == 2


def test_demo_step_before_any_campaign(cli_env: Path, engine: Engine, settings: Settings, tmp_path: Path) -> None:
    from cli.demo.reports import run

    context, console = _demo_context(engine, settings, tmp_path)
    report = run(context)
    output = console.export_text()
    assert "No campaign in the demo database yet" in output and "relance dashboard" in output
    assert report is not None and report["total"]["cost"] == Decimal("0.00")


def test_roi_over_a_period(seeded: Seeded) -> None:
    since = (datetime.now(UTC) - timedelta(days=5)).date()
    shown = run_cli_json("report", "roi", "--since", str(since))
    rows = {row["campaign"]: row for row in shown["campaigns"]}
    assert rows[Seeded.sms_campaign]["cost"] == "0.75" and rows[Seeded.campaign]["cost"] == "0.00"


def test_the_roi_table_keeps_its_essential_columns_on_a_narrow_terminal(seeded: Seeded, session: Session) -> None:
    from cli.report_tables import roi_table

    report = json.loads(json.dumps(roi_report(session, get_settings()), default=str))
    wide, cut = roi_table(report, title="ROI", width=160)
    narrow, squeezed = roi_table(report, title="ROI", width=80)
    assert not cut and [column.header for column in wide.columns] == [
        "campaign", "status", "sent", "cost", "revenue", "ROI", "conv.", "CPA", "CPL", "budget"]
    assert squeezed and [column.header for column in narrow.columns] == [
        "campaign", "sent", "cost", "revenue", "ROI", "conv."]
    out = Console(width=80, record=True)
    out.print(narrow)
    text = out.export_text()
    assert Seeded.campaign in text and "25.20" in text and "305.50" in text  # nothing folded or cut
    assert max(len(line) for line in text.splitlines()) <= 80
