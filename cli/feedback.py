"""`relance feedback` commands: apply provider feedback to contact records."""

from __future__ import annotations

import typer
from rich.table import Table

from cli.common import console, engine, print_json, progress, settings
from core.db import session_scope
from feedback.apply import FeedbackSummary, apply_all, pending_count

app = typer.Typer(help="Apply provider feedback to contact records.", no_args_is_help=True)


@app.command("apply")
def apply_command(
    limit: int = typer.Option(100, "--limit", min=1, help="Stored requests per batch (one transaction each)."),
    max_batches: int | None = typer.Option(None, "--max-batches", min=1, help="Stop after this many batches."),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Apply every pending webhook and tracking hit now: timeline events, message states, reachability, consent.

    Safe to run at any time and as often as you like: events are deduplicated, states only move forward.
    """
    with session_scope(engine()) as session:
        pending = pending_count(session)
    with progress(not json_output) as bar:
        task = bar.add_task("Applying feedback", total=pending)
        summary = apply_all(engine(), settings(), limit=limit, max_batches=max_batches,
                            on_batch=lambda batch: bar.advance(task, batch.requests))
    if json_output:
        print_json(summary.as_dict())
        return
    _print(summary)


def _print(summary: FeedbackSummary) -> None:
    table = Table(title="Feedback applied")
    for name in ("requests", "failed", "events", "new", "duplicates", "unknown messages", "seconds"):
        table.add_column(name, justify="right")
    table.add_row(*(str(value) for value in (summary.requests, summary.failed_requests, summary.events,
                                              summary.new_events, summary.duplicates, summary.unknown_messages,
                                              f"{summary.seconds:.2f}")))
    console.print(table)
    for title, counter in (("event types", summary.by_type), ("messages", summary.messages),
                           ("contacts", summary.contacts)):
        if counter:
            console.print(f"[bold]{title}:[/] " + ", ".join(f"{k} {v}" for k, v in sorted(counter.items())))


@app.command("pending")
def pending_command(json_output: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """How many stored requests wait to be applied."""
    with session_scope(engine()) as session:
        count = pending_count(session)
    if json_output:
        print_json({"pending": count})
    else:
        console.print(f"{count} pending request(s)")
