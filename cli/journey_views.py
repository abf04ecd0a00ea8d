"""How journeys look in a terminal: the status table, a preview's path, what a tick did (shared by the journey
commands and the demo)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from journeys.preview import Preview
from journeys.status import JourneyStatus
from journeys.tick import TickReport
from reports.formatting import money, percent

WIDE = 110  # characters from which every column of the status table fits


def print_status(console: Console, report: JourneyStatus, *, title: str | None = None) -> None:
    """The per-step table (the essential columns on a narrow terminal), then the journey's totals."""
    reason = f" — {escape(report.reason)}" if report.reason else ""
    version = f"v{report.version}" if report.version else "draft"
    wide = console.width >= WIDE
    headers = ["step", "kind", "waiting", "passed", "sent", "failed", "goal", "exited"]
    if wide:
        headers[6:6] = ["excluded", "held out"]
        headers.append("converted later")
    table = Table(*headers, title=title or f"{report.journey} ({version}, {report.status}){reason}")
    for row in report.steps:
        sends = row.kind == "send"
        exited = ", ".join(f"{count:,} {name}" for name, count in sorted(row.exited.items()))
        cells = [escape(row.step), row.kind, f"{row.waiting:,}", f"{row.passed:,}",
                 f"{row.sent:,}" if sends else "", f"{row.failed:,}" if sends else "", f"{row.converted:,}",
                 escape(exited)]
        if wide:
            cells[6:6] = [f"{row.excluded:,}" if sends else "", f"{row.held_out:,}" if sends else ""]
            cells.append(percent(row.conversion_rate) if row.conversion_rate is not None else "")
        table.add_row(*cells)
    console.print(table)
    finished = ", ".join(f"{count:,} {name}" for name, count in sorted(report.finished.items())) or "none yet"
    reasons = ", ".join(f"{count:,} {name}" for name, count in sorted(report.exit_reasons.items()))
    channels = ", ".join(f"{count:,} {name}" for name, count in sorted(report.messages.items())) or "none"
    revenue = ", ".join(money(amount, currency) for currency, amount in sorted(report.revenue.items())) or "0"
    console.print(f"Enrolled {report.enrolled:,} ({report.held_out:,} held out), active {report.active:,}; "
                  f"finished: {finished}" + (f" (exits: {reasons})" if reasons else "") + ".")
    console.print(f"Messages sent: {channels}; cost {report.cost:,.2f}. Conversions while enrolled: "
                  f"{report.conversions:,}, revenue {revenue}.")


def print_preview(console: Console, result: Preview) -> None:
    console.print(f"[bold]{escape(result.contact)}[/] in [bold]{escape(result.journey)}[/]: "
                  f"{escape(result.enrollment)}")
    for note in result.notes:
        console.print(f"  • {escape(note)}")
    table = Table("step", "kind", "when (UTC)", "what", "why", title="Path today")
    for line in result.path:
        table.add_row(escape(line.step), line.kind, f"{line.at:%Y-%m-%d %H:%M}" if line.at else "",
                      escape(line.what), escape(line.why))
    console.print(table)


def print_tick(console: Console, report: TickReport) -> None:
    for item in report.journeys:
        if item.skipped:
            console.print(f"[dim]{escape(item.journey)}: skipped ({escape(item.skipped)})[/]")
            continue
        steps = ", ".join(f"{step} {count:,}" for step, count in item.acted.items() if count) or "nothing due"
        finished = ", ".join(f"{count:,} {name}" for name, count in item.finished.items() if count)
        console.print(f"[bold]{escape(item.journey)}[/]: {item.enrolled:,} enrolled, {item.woken:,} woken; "
                      f"steps: {escape(steps)}; {item.ledgered:,} messages planned"
                      + (f"; finished: {finished}" if finished else "")
                      + (f"; [red]paused: {escape(item.paused)}[/]" if item.paused else "")
                      + f" ({item.seconds:.2f} s)")
    console.print(f"Dispatched: {report.sent:,} sent, {report.failed:,} failed, {report.retried:,} to retry "
                  f"({report.seconds:.2f} s).")
