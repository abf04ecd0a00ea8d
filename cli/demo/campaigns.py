"""Demo step: a real multichannel campaign on the demo company — the plan first, then the send to the outbox."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from sqlalchemy.orm import Session

from campaigns.definition import load_campaign
from campaigns.dispatcher import Dispatcher
from campaigns.planner import plan_campaign
from campaigns.progress import CampaignStatus, campaign_status
from campaigns.sending import start_campaign
from campaigns.service import CampaignStateError, create_campaign, get_campaign
from cli.demo.context import EXAMPLES as DEMO_EXAMPLES
from cli.demo.context import DemoCampaign, DemoContext
from cli.plan_view import print_plan
from core import clock
from core.db import session_scope
from core.models import Campaign

EXAMPLES = DEMO_EXAMPLES / "campaigns"
DEMO_CAMPAIGN = EXAMPLES / "demo-multichannel.yaml"
SCHEDULED_EXAMPLE = EXAMPLES / "winter-multichannel.yaml"


def run(context: DemoContext) -> None:
    console = context.console
    console.rule("[bold]Campaigns: plan, then send exactly once (email → SMS → letter)")
    with session_scope(context.engine) as session:
        campaign = _demo_campaign(session, DEMO_CAMPAIGN)
        dry = plan_campaign(session, context.settings, campaign, dry_run=True)
        campaign_id = campaign.id
    print_plan(context.console, dry)
    with session_scope(context.engine) as session:
        start_campaign(session, context.settings, get_campaign(session, campaign_id), actor="demo")
    dispatcher = Dispatcher(context.engine, context.settings)
    try:
        dispatcher.run(campaign_id)
    finally:
        dispatcher.close()
    with session_scope(context.engine) as session:
        status = campaign_status(session, get_campaign(session, campaign_id))
        scheduled = _demo_campaign(session, SCHEDULED_EXAMPLE)
        later = (scheduled.name, clock.utc(scheduled.scheduled_at) if scheduled.scheduled_at else None)
    _print_status(context, status)
    console.print(f"Also created [bold]{later[0]}[/], scheduled for {later[1]:%Y-%m-%d %H:%M} UTC with a 20 % A/B "
                  "test phase: `relance worker` sends it then and picks the winner by clicks.")
    context.campaign = DemoCampaign(campaign_id, status.campaign)


def _demo_campaign(session: Session, path: Path) -> Campaign:
    """The example campaign, created (or updated while still a draft); one sent by an earlier run is reused."""
    definition = load_campaign(path)
    try:
        return create_campaign(session, definition, replace=True, actor="demo")
    except CampaignStateError:
        return get_campaign(session, definition.name)


def _print_status(context: DemoContext, status: CampaignStatus) -> None:
    table = Table("status", "messages", title=f"Ledger of {status.campaign} after the send ({status.status})")
    for state, count in sorted(status.by_status.items()):
        table.add_row(state, f"{count:,}")
    context.console.print(table)
    outbox = context.settings.outbox_dir.resolve()
    waiting = status.by_status.get("queued", 0)
    context.console.print(
        f"Sent {status.sent:,} messages ({', '.join(f'{n:,} {c}' for c, n in sorted(status.sent_by_channel.items()))})"
        f" for {status.cost_so_far:,.2f} {status.currency} into {outbox}."
        + (f" {waiting:,} SMS wait for 08:00 in their recipients' timezone (quiet hours): `relance worker` sends "
           "them then." if waiting else ""))
