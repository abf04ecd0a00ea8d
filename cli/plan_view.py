"""A campaign plan printed for a terminal (the CLI's `campaign plan` and the demo): counts, cost, sample renders."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from campaigns.planner import PlanReport


def print_plan(console: Console, report: PlanReport) -> None:
    """Audience, exclusions by reason, split per channel and variant, cost against the budget, sample renders."""
    title = "Plan (dry run)" if report.dry_run else "Plan"
    table = Table("", "contacts", title=f"{title} of {escape(report.campaign)}")
    table.add_row("audience", f"{report.audience:,}")
    for reason, count in report.excluded.items():
        table.add_row(f"  excluded: {reason.replace('_', ' ')}", f"{count:,}")
    table.add_row("  held out (control group)", f"{report.held_out:,}")
    table.add_row("[bold]to send", f"[bold]{report.to_send:,}")
    for channel, count in report.per_channel.items():
        table.add_row(f"  by {channel}", f"{count:,}")
    for variant, count in report.per_variant.items():
        table.add_row(f"  variant {variant}", f"{count:,}")
    if report.deferred_by_quiet_hours:
        table.add_row("  deferred by quiet hours", f"{report.deferred_by_quiet_hours:,}")
    console.print(table)
    total = report.estimated_cost + report.fixed_cost
    budget = f" of a {report.budget:,.2f} budget" if report.budget is not None else ""
    warning = " [bold red](over budget: sending stops when it is reached)[/]" if report.over_budget else ""
    console.print(f"Estimated cost: {report.estimated_cost:,.2f} + fixed {report.fixed_cost:,.2f} = "
                  f"[bold]{total:,.2f} {report.currency}[/]{budget}{warning}")
    if report.first_send_at:
        console.print(f"Sends from {report.first_send_at:%Y-%m-%d %H:%M} to {report.last_send_at:%Y-%m-%d %H:%M} UTC.")
    samples = Table("channel", "variant", "to", "preview", "parts", title="Sample renders")
    for sample in report.samples:
        samples.add_row(sample["channel"], sample["variant"] or "", escape(str(sample.get("to") or "")),
                        escape(str(sample.get("preview") or sample.get("error") or "")), str(sample["parts"]))
    console.print(samples)
