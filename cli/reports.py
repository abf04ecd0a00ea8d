"""`relance report` commands: ROI table, one campaign's full report, the PDF report and exchange rates."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from campaigns.service import CampaignNotFound
from cli.common import console, engine, fail, print_json, settings
from cli.report_tables import roi_table
from cli.report_view import print_campaign
from core import clock
from core.db import session_scope
from reports.attribution import MODELS, Period
from reports.caches.engagement import rebuild, refresh
from reports.export import campaign_dict, roi_csv
from reports.formatting import money
from reports.money import MissingExchangeRate
from reports.overview import day_range
from reports.rates import list_rates, set_rate
from reports.service import campaign_report, roi_report

app = typer.Typer(help="ROI, funnels, A/B and holdout results, the PDF report and exchange rates.",
                  no_args_is_help=True)
rate_app = typer.Typer(help="Exchange rates into the report currency (RELANCE_REPORT_CURRENCY).", no_args_is_help=True)
app.add_typer(rate_app, name="rate")
JSON = typer.Option(False, "--json", help="Machine-readable output.")
MODEL = typer.Option(None, "--model", "-m", help=f"Attribution model: {', '.join(MODELS)} (default from settings).")


@contextmanager
def _session() -> Iterator[Session]:
    try:
        with session_scope(engine()) as session:
            yield session
    except (CampaignNotFound, MissingExchangeRate, ValueError) as exc:
        raise fail(str(exc)) from None


def _period(since: datetime | None, until: datetime | None) -> Period | None:
    if since is None and until is None:
        return None
    start = since.date() if since else date(1970, 1, 1)
    end = until.date() if until else clock.now().date()
    return day_range(start, end)


@app.command("roi")
def roi(
    campaign: str = typer.Option(None, "--campaign", "-c", help="Only this campaign (name or id)."),
    model: str = MODEL,
    since: datetime = typer.Option(None, help="Costs and conversions from this day (YYYY-MM-DD)."),
    until: datetime = typer.Option(None, help="… up to this day, included."),
    as_json: bool = JSON,
    as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout (one row per campaign)."),
) -> None:
    """ROI per campaign: cost (messages + fixed), attributed revenue, ROI, CPL, CPA and budget consumed."""
    if model is not None and model not in MODELS:
        raise fail(f"unknown attribution model {model!r} (one of {', '.join(MODELS)})", code=2)
    with _session() as session:
        report = roi_report(session, settings(), model=model, campaign=campaign, period=_period(since, until))
    if as_json:
        print_json(report)
        return
    if as_csv:
        typer.echo(roi_csv(report), nl=False)
        return
    _print_roi(report)


def _print_roi(report: dict[str, Any]) -> None:
    table, narrow = roi_table(report, width=console.width, title=f"ROI by campaign — {report['model']} over "
                              f"{report['window_days']:g} days, money in {report['currency']}")
    console.print(table)
    if narrow and report["campaigns"]:
        console.print("[dim]Status, CPA, CPL and budget used: a wider terminal, --json or --csv.[/]")
    if not report["campaigns"]:
        console.print("No campaign yet: create one with `relance campaign create FILE`.")
    console.print("[dim]ROI = (revenue − cost) / cost · CPA = cost per attributed conversion · "
                  "CPL = cost per lead form within the window after a message[/]")


@app.command("campaign")
def campaign(
    name: str = typer.Argument(..., help="Campaign name or id."),
    model: str = MODEL,
    metric: str = typer.Option("clicked", help="A/B metric per message sent: opened, clicked, leads, converted."),
    as_json: bool = JSON,
) -> None:
    """One campaign in full: funnel with rates, variants (A/B test), channels, holdout lift, costs, models."""
    with _session() as session:
        report = campaign_dict(campaign_report(session, settings(), name, model=model, metric=metric))
    if as_json:
        print_json(report)
        return
    print_campaign(console, report)


@app.command("pdf")
def pdf(
    out: Path = typer.Option(Path("relance-report.pdf"), "--out", "-o", help="Where to write the PDF."),
    days: int = typer.Option(7, min=1, max=3660, help="The last N full days (ignored with --since)."),
    since: datetime = typer.Option(None, help="First day of the report (YYYY-MM-DD)."),
    until: datetime = typer.Option(None, help="Last day of the report, included (default yesterday)."),
    model: str = MODEL,
) -> None:
    """Write the designed PDF report (headline figures, trends, ROI, channels, holdout and A/B, with charts)."""
    from reports.pdf import gather, last_days, render_pdf  # matplotlib and WeasyPrint: only when a PDF is made

    period = _period(since, until) if since else last_days(days, end=until.date() if until else None)
    assert period is not None
    with _session() as session:
        data = gather(session, settings(), period, model=model)
    content = render_pdf(data)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(content)
    console.print(f"Wrote [bold]{out}[/] ({len(content) / 1024:.0f} KiB): {len(data.campaigns)} campaign(s), "
                  f"spend {money(data.headline.spend)} {data.currency}, revenue "
                  f"{money(data.headline.attributed_revenue)} {data.currency} attributed.")


@app.command("refresh")
def refresh_command(
    full: bool = typer.Option(False, "--full", help="Rebuild the cache from the whole timeline."),
    as_json: bool = JSON,
) -> None:
    """Bring the report caches up to date, for RELANCE_ATTRIBUTION_WINDOW_DAYS (reports and the dashboard also do
    it as they read; run it after a very large send or an upgrade so that no page waits for it)."""
    started = time.perf_counter()
    window = settings().attribution_window_days
    with _session() as session:
        done = rebuild(session, window) if full else refresh(session, window)
    summary = {"new_messages": done.new_messages, "skipped": done.skipped, "window_days": done.window_days,
               "seconds": round(time.perf_counter() - started, 3)}
    if as_json:
        print_json(summary)
        return
    console.print(f"Response cache {'rebuilt' if full else 'refreshed'}: {done.new_messages:,} new message(s) in "
                  f"{summary['seconds']:.1f} s{' (another refresh was running)' if done.skipped else ''}.")


@rate_app.command("set")
def rate_set(
    currency: str = typer.Argument(..., help="ISO code, e.g. USD."),
    rate: str = typer.Argument(..., help="Units of the report currency per 1 CURRENCY, e.g. 0.92."),
    valid_from: datetime = typer.Option(None, "--from", help="First day the rate applies (default today)."),
) -> None:
    """Record an exchange rate (amounts in CURRENCY from that day on are converted with it)."""
    start = (valid_from or clock.now()).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=UTC)
    report_currency = settings().report_currency
    with _session() as session:
        row = set_rate(session, currency, rate, start, report_currency=report_currency)
        console.print(f"1 {row.currency} = {row.rate} {report_currency} from {start:%Y-%m-%d}")


@rate_app.command("list")
def rate_list(as_json: bool = JSON) -> None:
    """Every exchange rate, by currency and date."""
    with _session() as session:
        rates = list_rates(session)
    if as_json:
        print_json({"report_currency": settings().report_currency, "rates": rates})
        return
    table = Table(title=f"Exchange rates into {settings().report_currency}")
    for column in ("currency", "rate", "from"):
        table.add_column(column)
    for row in rates:
        table.add_row(row["currency"], str(row["rate"]), f"{row['valid_from']:%Y-%m-%d}")
    console.print(table)
