"""`relance import` commands: import contacts, events, conversions and returned mail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from cli.common import console, engine, fail, print_json, progress, settings
from contacts.history import HistorySummary, import_conversions, import_events
from contacts.importer import ImportSummary, import_contacts
from contacts.mapping import MappingError, load_mapping
from contacts.readers import UnreadableFile

app = typer.Typer(help="Import contacts, events, conversions and returned mail.", no_args_is_help=True)

FILE_ARGUMENT = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV, TSV or XLSX file.")


@app.command("contacts")
def contacts_command(
    file: Path = FILE_ARGUMENT,
    mapping: Path | None = typer.Option(None, "--mapping", exists=True, dir_okay=False,
                                        help="YAML file: `columns: {header: field | attributes.name | ignore}`."),
    default_region: str | None = typer.Option(None, "--default-region",
                                              help="Region for national phone numbers (default: settings, FR)."),
    report: Path | None = typer.Option(None, "--report", help="Write rejected rows (line, column, reason) here."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Do everything, then roll back: nothing is saved."),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import contacts from CSV/XLSX: normalise, deduplicate (file and database), report bad rows.

    Headers are recognised in English and French (email/courriel, prénom, nom, téléphone, société, code postal,
    ville, pays, …); unknown columns become custom attributes. Re-importing the same file changes nothing.
    """
    try:
        loaded = load_mapping(mapping)
    except MappingError as exc:
        raise fail(str(exc)) from exc
    region = (default_region or settings().default_region).upper()
    try:
        with progress(not json_output) as bar:
            task = bar.add_task(f"Importing {file.name}", total=None)
            summary = import_contacts(engine(), file, mapping=loaded, default_region=region, report=report,
                                      dry_run=dry_run, on_progress=lambda count: bar.advance(task, count))
    except UnreadableFile as exc:
        raise fail(str(exc)) from exc
    if json_output:
        print_json(summary.as_dict())
        return
    _print_contacts_summary(summary)


def _print_contacts_summary(summary: ImportSummary) -> None:
    table = Table(title=f"Import of {summary.file}" + (" (dry run: nothing saved)" if summary.dry_run else ""))
    for name in ("rows read", "created", "updated", "unchanged", "merged", "rejected"):
        table.add_column(name, justify="right")
    table.add_row(*(f"{value:,}" for value in (summary.rows_read, summary.created, summary.updated,
                                                 summary.unchanged, summary.merged, summary.rejected)))
    console.print(table)
    console.print(f"[dim]encoding {summary.encoding or 'xlsx'}, delimiter {summary.delimiter!r}, "
                  f"{summary.seconds:.1f} s[/]")
    if summary.error_samples:
        errors = Table(title="Rejected rows (first ones)")
        for name in ("line", "column", "value", "reason"):
            errors.add_column(name)
        for error in summary.error_samples[:15]:
            errors.add_row(str(error["line"]), error["column"], error["value"], error["reason"])
        console.print(errors)
    if summary.report:
        console.print(f"Rejected rows written to [bold]{summary.report}[/]")


def _print_history(summary: HistorySummary, what: str, json_output: bool) -> None:
    if json_output:
        print_json(summary.as_dict())
        return
    console.print(f"{what} from {summary.file}: {summary.rows_read:,} rows, [green]{summary.recorded:,} recorded[/], "
                  f"{summary.already_present:,} already present, [red]{summary.rejected:,} rejected[/]")
    for error in summary.errors[:15]:
        console.print(f"  line {error['line']}: {error['reason']} {error['value']}")


def _history(run: Any, file: Path, what: str, default_region: str | None, json_output: bool) -> None:
    region = (default_region or settings().default_region).upper()
    try:
        with progress(not json_output) as bar:
            task = bar.add_task(f"Importing {what} from {file.name}", total=None)
            summary = run(engine(), file, default_region=region, on_progress=lambda count: bar.advance(task, count))
    except UnreadableFile as exc:
        raise fail(str(exc)) from exc
    _print_history(summary, what, json_output)


@app.command("events")
def events_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSON lines or CSV file."),
    default_region: str | None = typer.Option(None, "--default-region"),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import timeline events: contact (email|phone|external_id|contact_id), type, occurred_at, properties.

    The row's `id` or `dedupe_key` column (else a hash of the row) makes re-imports harmless.
    """
    _history(import_events, file, "events", default_region, json_output)


@app.command("conversions")
def conversions_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV, XLSX or JSON lines file."),
    default_region: str | None = typer.Option(None, "--default-region"),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import conversions: email|phone|external_id, amount, currency, occurred_at, external_ref (idempotent)."""
    _history(import_conversions, file, "conversions", default_region, json_output)


# `relance import returned-mail` (returned letters) is added by the feedback module below this line.


@app.command("returned-mail")
def returned_mail_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False,
                                help="CSV/XLSX: contact_id, or piece_id, or address_line1 + postcode; reason, date."),
    manifest: Path | None = typer.Option(None, "--manifest", exists=True, dir_okay=False,
                                         help="Letters manifest CSV mapping piece ids to contact ids."),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import returned letters (NPAI): the postal address becomes invalid and `mail.returned` is recorded."""
    from contacts.returned_mail import import_returned_mail

    try:
        summary = import_returned_mail(engine(), file, manifest=manifest)
    except UnreadableFile as exc:
        raise fail(str(exc)) from exc
    if json_output:
        print_json(summary.as_dict())
        return
    console.print(f"Returned mail from {summary.file}: {summary.rows} rows, [green]{summary.matched} matched[/], "
                  f"{summary.newly_invalid} addresses newly invalid, [red]{len(summary.unmatched)} unmatched[/]")
    for row in summary.unmatched[:15]:
        console.print(f"  line {row['line']}: {row['reason']}")
