"""Demo step: the ROI table of the demo's campaigns, the PDF report, and how to open the dashboard on the demo data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from cli.demo.context import DemoContext
from cli.report_tables import roi_table
from core import clock
from core.db import session_scope
from core.models import Conversion, Message, User
from core.users import add_user
from reports.attribution import MODELS
from reports.formatting import money
from reports.money import MissingExchangeRate
from reports.overview import day_range
from reports.pdf import gather, render_pdf
from reports.service import campaign_report, roi_report

DEMO_USER, DEMO_PASSWORD = "demo", "relance-demo"


def _roi_table(report: dict[str, Any], width: int) -> Table:
    table, _ = roi_table(report, width=width, lead_cost=False, title=f"ROI of the demo campaigns — {report['model']} "
                         f"attribution over {report['window_days']:g} days, money in {report['currency']}")
    return table


def _highlight(context: DemoContext, name: str) -> None:
    """Holdout and A/B verdicts of the demo campaign, and how much the attribution model matters."""
    with session_scope(context.engine) as session:
        report = campaign_report(session, context.settings, name)
    console = context.console
    result = report.holdout
    uplift = result.uplift if result is not None else None
    if result is not None and uplift is not None:
        console.print(f"Holdout of [bold]{name}[/]: treated {result.treated.conversion_rate or 0:.2%} vs held out "
                      f"{result.held_out.conversion_rate or 0:.2%}, uplift {uplift.estimate * 100:+.2f} pts "
                      f"(95 % CI {uplift.low * 100:+.2f} to {uplift.high * 100:+.2f}) — {result.verdict()}")
    if len(report.ab.variants) > 1:
        console.print(f"A/B: {report.ab.summary()}")
    models = ", ".join(f"{model} {money(report.models.get(model))}" for model in MODELS)
    console.print(f"Revenue credited to {name} by model: {models}")


def _dashboard_command(context: DemoContext) -> str:
    url = make_url(context.settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).is_absolute():
        url = url.set(database=str((context.workdir / url.database).resolve()))
    return f"RELANCE_DATABASE_URL={url.render_as_string(hide_password=True)} relance dashboard"


def _demo_user(context: DemoContext) -> str:
    with session_scope(context.engine) as session:
        if session.scalar(select(func.count()).select_from(User)):
            return "sign in with a user of `relance user list`"
        add_user(session, DEMO_USER, "admin", DEMO_PASSWORD, actor="demo")
    return f"sign in as [bold]{DEMO_USER}[/] / [bold]{DEMO_PASSWORD}[/] (admin)"


def run(context: DemoContext) -> dict[str, Any] | None:
    """Print the ROI table, write the PDF report, and say how to open the dashboard on this data; returns the ROI
    report (None when an exchange rate is missing)."""
    console = context.console
    console.rule("[bold]ROI reports and the dashboard")
    try:
        with session_scope(context.engine) as session:
            report = roi_report(session, context.settings)
            pdf = render_pdf(gather(session, context.settings, day_range(*_span(session))))
    except MissingExchangeRate as exc:
        console.print(f"[red]{exc}[/]")
        return None
    console.print(_roi_table(report, console.width))
    if not report["campaigns"]:
        console.print("[yellow]No campaign in the demo database yet (the campaigns step has not run): the table is "
                      "empty; the dashboard still shows contacts, segments, scores and responses.[/]")
    name = context.campaign.name if context.campaign else None
    if name is None and report["campaigns"]:
        name = report["campaigns"][0]["campaign"]
    if name:
        _highlight(context, name)
    path = context.workdir / "relance-report.pdf"
    path.write_bytes(pdf)
    console.print(f"PDF report: {path} ({len(pdf) / 1024:.0f} KiB)")
    console.print(f"Open the dashboard on the demo data: [bold]{_dashboard_command(context)}[/] — "
                  f"{_demo_user(context)}, then http://127.0.0.1:8501")
    return report


def _span(session: Any) -> tuple[Any, Any]:
    """From the first message or conversion to today (the demo moves its clock)."""
    first = session.scalar(select(func.min(Message.created_at))) or session.scalar(
        select(func.min(Conversion.occurred_at))) or clock.now()
    return min(first, clock.now()).date(), clock.now().date()
