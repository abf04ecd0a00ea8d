"""Demo step: history from the old system — its events imported under their own `--source`, then again."""

from __future__ import annotations

from rich.table import Table
from sqlalchemy import select

from cli.demo.context import DemoContext
from contacts.imports.history import HistorySummary, import_events
from core.db import session_scope
from core.models import Contact, Event

OLD_EVENTS = "old_system_events.jsonl"
SOURCE = "mautic"


def run(context: DemoContext) -> tuple[HistorySummary, HistorySummary]:
    """Import the old system's events (one repeated, one for a person never imported, one id reused by another
    event), show what each row became, then import the file again: nothing changes."""
    from cli.demo.contacts import EXAMPLES

    path = EXAMPLES / OLD_EVENTS
    region = context.settings.default_region
    first = import_events(context.engine, path, source=SOURCE, default_region=region)
    again = import_events(context.engine, path, source=SOURCE, default_region=region)
    console = context.console
    console.print(_table(first, f"History from the old system: {OLD_EVENTS} --source {SOURCE}"))
    for error in first.errors:
        console.print(f"  [red]line {error['line']}[/] ({error['column']}): {error['reason']}")
    console.print(f"Imported again: {again.recorded} recorded, {again.already_present} already present — the ids of "
                  f"{SOURCE!r} make a re-import harmless.")
    with session_scope(context.engine) as session:
        kinds = session.scalars(
            select(Event.type).join(Contact, Contact.id == Event.contact_id)
            .where(Contact.email == "hugo.bernard@transports-bernard.fr",
                   Event.dedupe_key.like(f"import:{SOURCE}:%")).order_by(Event.occurred_at)).all()
    console.print(f"Hugo Bernard's timeline now holds what {SOURCE} knew: {', '.join(kinds)}.")
    return first, again


def _table(summary: HistorySummary, title: str) -> Table:
    table = Table(title=title)
    for column in ("rows read", "recorded", "already present", "rejected"):
        table.add_column(column, justify="right")
    table.add_row(*(f"{value:,}" for value in (summary.rows_read, summary.recorded, summary.already_present,
                                                summary.rejected)))
    return table
