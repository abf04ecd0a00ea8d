"""`relance campaign` commands: create, plan (dry run), schedule, send, pause, resume, cancel and follow campaigns."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from campaigns.definition import CampaignDefinitionError, load_campaign
from campaigns.dispatcher import BatchResult, Dispatcher
from campaigns.planner import PlanReport, plan_campaign
from campaigns.progress import CampaignStatus, campaign_status
from campaigns.sending import start_campaign, waits_until
from campaigns.service import (
    CampaignNotFound,
    CampaignStateError,
    cancel_campaign,
    create_campaign,
    get_campaign,
    list_campaigns,
    pause_campaign,
    resume_campaign,
    schedule_campaign,
)
from cli.common import console, engine, print_json, progress, refusing_session, settings
from cli.plan_view import print_plan
from connectors.base import ConfigurationError
from connectors.registry import check_channels
from core import clock
from segments.service import SegmentNotFound
from templates.errors import TemplateError

app = typer.Typer(help="Create, plan, schedule, send and follow campaigns.", no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Machine-readable output.")
NAME = typer.Argument(..., help="Campaign name (or id).")


def _session() -> Any:
    """A committed session; bad definitions exit 2 naming each problem's path, other refusals exit 1."""
    return refusing_session(CampaignDefinitionError, "campaign", (
        CampaignNotFound, SegmentNotFound, CampaignStateError, TemplateError, ConfigurationError, ValueError))


@app.command("create")
def create(
    file: Path = typer.Argument(..., help="Campaign file (.yaml or .json), e.g. examples/campaigns/spring-offer.yaml."),
    replace: bool = typer.Option(False, "--replace", help="Update a draft or scheduled campaign of the same name."),
    as_json: bool = JSON,
) -> None:
    """Create a campaign from its definition (segments and templates must exist)."""
    with _session() as session:
        if not file.exists():
            raise ValueError(f"no such file: {file}")
        campaign = create_campaign(session, load_campaign(file), replace=replace)
        summary = {"campaign": campaign.name, "id": campaign.id, "status": campaign.status,
                   "channels": campaign.channels, "scheduled_at": campaign.scheduled_at}
    if as_json:
        print_json(summary)
        return
    when = f", scheduled for {summary['scheduled_at']:%Y-%m-%d %H:%M} UTC" if summary["scheduled_at"] else ""
    console.print(f"Campaign [bold]{escape(campaign.name)}[/] ({', '.join(campaign.channels)}) is "
                  f"{summary['status']}{when}. Next: [cyan]relance campaign plan {escape(campaign.name)}[/].")


@app.command("list")
def list_command(as_json: bool = JSON) -> None:
    """Every campaign with its status, channels and schedule."""
    with _session() as session:
        rows: list[dict[str, Any]] = [{"campaign": item.name, "status": item.status, "channels": item.channels,
                 "scheduled_at": item.scheduled_at, "started_at": item.started_at,
                 "completed_at": item.completed_at, "spent": item.spent, "budget": item.budget,
                 "currency": item.currency} for item in list_campaigns(session)]
    if as_json:
        print_json(rows)
        return
    table = Table("campaign", "status", "channels", "scheduled (UTC)", "spent", "budget", title="Campaigns")
    for row in rows:
        table.add_row(escape(row["campaign"]), row["status"], " → ".join(row["channels"]),
                      f"{row['scheduled_at']:%Y-%m-%d %H:%M}" if row["scheduled_at"] else "",
                      f"{row['spent']:,.2f} {row['currency']}", f"{row['budget']:,.2f}" if row["budget"] else "")
    console.print(table)


@app.command("plan")
def plan(name: str = NAME, as_json: bool = JSON) -> None:
    """Dry run: audience, exclusions by reason, split per channel and variant, estimated cost, sample renders."""
    with _session() as session:
        report = plan_campaign(session, settings(), get_campaign(session, name), dry_run=True)
    if as_json:
        print_json(report.as_dict())
        return
    print_plan(console, report)


@app.command("schedule")
def schedule(name: str = NAME, at: datetime = typer.Option(..., "--at", help="ISO time with offset, e.g. "
                                                              "2026-12-01T09:00:00+01:00."),
             as_json: bool = JSON) -> None:
    """Schedule a draft campaign; `relance worker` sends it at that time."""
    with _session() as session:
        campaign = schedule_campaign(session, get_campaign(session, name), at)
        summary = {"campaign": campaign.name, "status": campaign.status, "scheduled_at": campaign.scheduled_at}
    if as_json:
        print_json(summary)
    else:
        console.print(f"{escape(name)} scheduled for {clock.utc(at):%Y-%m-%d %H:%M} UTC.")


@app.command("send")
def send(
    name: str = NAME,
    wait: bool = typer.Option(False, "--wait", help="Stay until the campaign completes (later send times, "
                                                    "retries and provider confirmations included)."),
    now: bool = typer.Option(False, "--now", help="Start now even if the campaign is scheduled later."),
    as_json: bool = JSON,
) -> None:
    """Plan the campaign (once) and send what is due now; `--wait` stays until it completes.

    Without --wait, messages due later (quiet hours, local-time schedules, A/B winners, retries) are left to
    `relance worker`. Any number of senders may run at once: none sends a message twice."""
    started = _start(name, now=now, wait=wait, as_json=as_json)
    if started is None:
        return
    report, campaign_id = started
    if not as_json:
        print_plan(console, report)
    status, this_run = _dispatch(campaign_id, report.to_send, wait=wait, quiet=as_json)
    with _session() as session:
        snapshot = campaign_status(session, get_campaign(session, campaign_id))
    if as_json:
        print_json({**snapshot.as_dict(), "this_run": this_run})
    else:
        _print_status(snapshot)
        if status == "sending" and not wait:
            console.print("[dim]Messages due later go out with `relance worker` (or run send again with --wait).[/]")


def _start(name: str, *, now: bool, wait: bool, as_json: bool) -> tuple[PlanReport, int] | None:
    """Plan the campaign and set it sending, in one session when it is due; a campaign scheduled later is only
    reported, or (`wait`) waited for outside any session. Returns its plan report and id."""
    with _session() as session:
        check_channels(settings())  # a misconfigured backend fails here, naming its channel
        campaign = get_campaign(session, name)
        start = None if now else waits_until(campaign)
        if start is None:
            return start_campaign(session, settings(), campaign, now=now), campaign.id
    if not wait:
        _report_scheduled({"campaign": name, "status": "scheduled", "scheduled_at": start}, as_json)
        return None
    _sleep_until(start, as_json)
    with _session() as session:
        campaign = get_campaign(session, name)
        return start_campaign(session, settings(), campaign, now=now), campaign.id


def _report_scheduled(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(summary)
    else:
        console.print(f"{escape(summary['campaign'])} is scheduled for {summary['scheduled_at']:%Y-%m-%d %H:%M} UTC: "
                      "`relance worker` sends it then (or use --wait to send from here, --now to start now).")


def _sleep_until(start: datetime, quiet: bool) -> None:
    if not quiet:
        console.print(f"Waiting until {start:%Y-%m-%d %H:%M:%S} UTC to start…")
    while (remaining := (start - clock.now()).total_seconds()) > 0:
        time.sleep(min(remaining, 5.0))


def _dispatch(campaign_id: int, total: int, *, wait: bool, quiet: bool) -> tuple[str, dict[str, int]]:
    """Send from this process; returns the campaign's status and what this process sent."""
    dispatcher = Dispatcher(engine(), settings())
    this_run = {"batches": 0, "sent": 0, "failed": 0, "retried": 0}
    try:
        with progress(enabled=not quiet) as bar:
            task = bar.add_task("sending", total=max(total, 1))

            def on_batch(result: BatchResult) -> None:
                bar.advance(task, result.tally.sent + result.tally.failed)
                this_run["batches"] += 1 if result.claimed else 0
                this_run["sent"] += result.tally.sent
                this_run["failed"] += result.tally.failed
                this_run["retried"] += result.tally.retried
                if result.paused_because and not quiet:
                    console.print(f"[bold red]Paused:[/] {escape(result.paused_because)}")

            return dispatcher.run(campaign_id, until_done=wait, on_batch=on_batch), this_run
    finally:
        dispatcher.close()


@app.command("status")
def status(name: str = NAME, as_json: bool = JSON,
           watch: bool = typer.Option(False, "--watch", help="Refresh every 2 s until the campaign stops.")) -> None:
    """Messages per status and channel, throughput, ETA and cost so far."""
    while True:
        with _session() as session:
            snapshot = campaign_status(session, get_campaign(session, name))
        if as_json:
            print_json(snapshot.as_dict())
        else:
            _print_status(snapshot)
        if not watch or snapshot.status not in ("sending", "scheduled"):
            return
        time.sleep(2)


def _print_status(snapshot: CampaignStatus) -> None:
    reason = f" — {escape(snapshot.reason)}" if snapshot.reason else ""
    console.print(f"[bold]{escape(snapshot.campaign)}[/]: {snapshot.status}{reason}")
    table = Table("status", "messages", title="Ledger")
    for state, count in sorted(snapshot.by_status.items()):
        table.add_row(state, f"{count:,}")
    console.print(table)
    channels = ", ".join(f"{channel} {count:,}" for channel, count in sorted(snapshot.sent_by_channel.items()))
    console.print(f"Sent {snapshot.sent:,} of {snapshot.to_send:,} ({channels or 'none yet'}); "
                  f"{snapshot.per_minute:,.0f}/min over the last minute"
                  + (f", ETA {snapshot.eta:%H:%M:%S} UTC" if snapshot.eta else "") + ".")
    budget = f" of {snapshot.budget:,.2f}" if snapshot.budget is not None else ""
    console.print(f"Cost so far: {snapshot.cost_so_far:,.2f}{budget} {snapshot.currency}.")


@app.command("pause")
def pause(name: str = NAME, reason: str = typer.Option("paused by hand", "--reason", help="Why (shown in status).")
          ) -> None:
    """Stop sending; batches already leased finish, nothing new is claimed."""
    with _session() as session:
        pause_campaign(session, get_campaign(session, name), reason)
    console.print(f"{escape(name)} paused.")


@app.command("resume")
def resume(name: str = NAME) -> None:
    """Carry on sending a paused campaign (run send or the worker to dispatch)."""
    with _session() as session:
        campaign = resume_campaign(session, get_campaign(session, name))
    console.print(f"{escape(name)} is {campaign.status} again.")


@app.command("cancel")
def cancel(name: str = NAME, yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation.")) -> None:
    """Cancel: nothing more is sent (messages already sent stay sent)."""
    if not yes:
        typer.confirm(f"Cancel campaign {name}? Unsent messages will never go", abort=True)
    with _session() as session:
        cancelled = cancel_campaign(session, get_campaign(session, name))
    console.print(f"{escape(name)} cancelled ({cancelled:,} messages will not be sent).")
