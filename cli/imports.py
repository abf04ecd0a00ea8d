"""`relance import` commands: import contacts, events, conversions and returned mail."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from cli.common import console, engine, fail, print_json, progress, settings
from contacts.imports.history import HistorySummary, check_source, import_conversions, import_events
from contacts.imports.mapping import MappingError, load_mapping
from contacts.imports.pipeline import ImportSummary, import_contacts
from contacts.imports.readers import UnreadableFile, estimate_rows

app = typer.Typer(help="Import contacts, events, conversions and returned mail.", no_args_is_help=True)


def flowed(doc: str | None) -> str:
    """A docstring as --help text: each paragraph on one line, so the terminal (not the source) wraps it."""
    paragraphs = inspect.cleandoc(doc or "").split("\n\n")
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)


def command(typer_app: typer.Typer, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`typer_app.command(name)` with the docstring flowed into the help text."""
    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        return typer_app.command(name, help=flowed(function.__doc__))(function)

    return register

FILE_ARGUMENT = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV, TSV or XLSX file.")


@command(app, "contacts")
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
    """Import contacts from CSV/XLSX: normalise, deduplicate (within the file and against the database), report bad
    rows.

    [bold]Files[/]: CSV with `,` `;` tab or `|` (UTF-8 with or without BOM, cp1252/Latin-1 as French Excel writes
    them) or XLSX (first sheet). Headers are recognised in English and French (email/courriel, prénom, nom,
    téléphone/mobile, société, adresse, code postal, ville, pays, langue, tags, source, utm_*); unknown columns
    become custom attributes; `email_opt_in`, `email_opt_in_date`, `email_opt_in_source` (same for sms, mail)
    become consent records with their proof. `--mapping` overrides the detection (see
    examples/contacts_mapping.yaml).

    [bold]Same person[/]: same external id, else same email, else same phone (unless the emails differ). [bold]Merge
    precedence[/]: a non-empty value wins over an empty one; on conflict the newer one wins (the later row of the
    file, the file over the database); attributes merge key by key; tags are the union. Re-importing a file
    changes nothing. Bad rows never stop the import: they are listed with line, column and reason
    (`--report` writes them all to CSV) and the good rows are saved.

    Example: relance import contacts export.csv --report rejected.csv
    """
    try:
        loaded = load_mapping(mapping)
    except MappingError as exc:
        raise fail(str(exc)) from exc
    region = (default_region or settings().default_region).upper()
    try:
        with progress(not json_output) as bar:
            task = bar.add_task(f"Importing {file.name}", total=None if json_output else estimate_rows(file))
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
        column = f" ({error['column']})" if error["column"] else ""
        console.print(f"  line {error['line']}{column}: {error['reason']}")
    if summary.report:
        console.print(f"Rejected rows written to [bold]{summary.report}[/]")


def _history(run: Any, file: Path, what: str, default_region: str | None, report: Path | None,
             json_output: bool, **options: Any) -> None:
    region = (default_region or settings().default_region).upper()
    try:
        with progress(not json_output) as bar:
            task = bar.add_task(f"Importing {what} from {file.name}",
                                total=None if json_output else estimate_rows(file))
            summary = run(engine(), file, default_region=region, report=report,
                          on_progress=lambda count: bar.advance(task, count), **options)
    except UnreadableFile as exc:
        raise fail(str(exc)) from exc
    _print_history(summary, what, json_output)


REGION_OPTION = typer.Option(None, "--default-region", help="Region for national phone numbers (default: settings).")
HISTORY_REPORT_OPTION = typer.Option(None, "--report", help="Write rejected rows (line, column, reason) here.")


@command(app, "events")
def events_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSON lines or CSV file."),
    source: str | None = typer.Option(
        None, "--source", help="Name of the system the events come from (e.g. mautic): their ids are its own."),
    default_region: str | None = REGION_OPTION,
    report: Path | None = HISTORY_REPORT_OPTION,
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import timeline events: the history of an old system (opens, clicks, visits, forms…).

    One event per line (JSON lines) or row (CSV/XLSX) with the contact (email, phone, external_id or contact_id),
    `type` (e.g. email.opened), `occurred_at` (ISO or dd/mm/yyyy), optional `properties` (JSON object) and
    `value`; other columns become properties.

    The row's `id` or `dedupe_key` column (else a hash of the row) makes re-imports harmless: an event already
    imported is counted as present. Old systems often number their events 1, 2, 3…: give each system's files
    their `--source` (the same name every time you import from it), so that its ids cannot meet another's. An id
    already taken by a different event is rejected and reported, never silently skipped. Rows whose contact is
    unknown are rejected and reported.

    Example: relance import events mautic-events.jsonl --source mautic
    """
    try:
        name = check_source(source)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    _history(import_events, file, "events", default_region, report, json_output, source=name)


@command(app, "conversions")
def conversions_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV, XLSX or JSON lines file."),
    default_region: str | None = REGION_OPTION,
    report: Path | None = HISTORY_REPORT_OPTION,
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import conversions (revenue), idempotent on their external reference.

    Columns: email, phone or external_id (the contact); amount (`1 234,50` works); currency (default EUR);
    occurred_at; external_ref; optional kind.

    Idempotent on `external_ref` (the order or invoice number): importing the file again adds nothing.
    """
    _history(import_conversions, file, "conversions", default_region, report, json_output)


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
    from feedback.returned_mail import import_returned_mail

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
