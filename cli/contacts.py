"""`relance contacts` commands: read, search, merge, export and erase contacts."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import typer
from rich.panel import Panel
from rich.table import Table

from cli.common import console, engine, err_console, fail, print_json, progress, settings
from contacts.duplicates import find_duplicates
from contacts.gdpr import erase_contact, personal_data
from contacts.merge import MergeError, merge_contacts
from contacts.view import contact_view, count_contacts, find_contact, to_json, write_export
from core.db import session_scope
from core.models import Contact

app = typer.Typer(help="Read, search, merge, export and erase contacts.", no_args_is_help=True)

JSON_OPTION = typer.Option(False, "--json", help="Machine-readable output.")
IDENT_ARGUMENT = typer.Argument(..., help="Contact id, email, phone or external id.")


def _find(session: Any, ident: str) -> Contact:
    contact = find_contact(session, ident, region=settings().default_region)
    if contact is None:
        raise fail(f"no contact matches {ident!r}")
    return contact


@app.command()
def show(ident: str = IDENT_ARGUMENT, events: int = typer.Option(30, help="Timeline events to show."),
         json_output: bool = JSON_OPTION) -> None:
    """The 360° view: fields, attributes, account, tags, consent, suppression, score and timeline (newest first)."""
    with session_scope(engine()) as session:
        view = contact_view(session, _find(session, ident), events=events)
    if json_output:
        print_json(view)
        return
    _print_view(view)


def _identity_lines(view: dict[str, Any]) -> list[str]:
    fields = view["contact"]
    name = " ".join(part for part in (fields["first_name"], fields["last_name"]) if part) or "(no name)"
    lines = [f"[bold]{name}[/]  #{fields['id']}  {fields['email'] or ''}  {fields['phone'] or ''}"]
    lines += [f"{key}: {fields[key]}" for key in ("company", "job_title", "lifecycle_stage", "language", "country",
                                                  "timezone", "source") if fields.get(key)]
    address = ", ".join(str(fields[key]) for key in ("address_line1", "address_line2", "postcode", "city")
                        if fields.get(key))
    if address:
        lines.append(f"address: {address}")
    return lines


def _print_view(view: dict[str, Any]) -> None:
    fields = view["contact"]
    lines = _identity_lines(view)
    if view["account"]:
        parent = f" (group: {view['account']['parent']})" if view["account"]["parent"] else ""
        lines.append(f"account: {view['account']['name']}{parent}")
    lines.append(f"score: {fields['score']}  grade: {fields['grade'] or '-'}  tags: {', '.join(view['tags']) or '-'}")
    if view["attributes"]:
        lines.append("attributes: " + ", ".join(f"{key}={value}" for key, value in view["attributes"].items()))
    if fields["erased_at"]:
        lines.append(f"[red]erased at {fields['erased_at']:%Y-%m-%d %H:%M}[/]")
    console.print(Panel("\n".join(lines), title="Contact"))
    consent = Table(title="Consent")
    for column in ("channel", "status", "since", "source", "suppressed", "address"):
        consent.add_column(column)
    for channel, state in view["consent"].items():
        since = f"{state['since']:%Y-%m-%d}" if state["since"] else ""
        consent.add_row(channel, state["status"], since, (state["proof"] or {}).get("source") or "",
                        state["suppressed"] or "", state["address_status"])
    console.print(consent)
    timeline = Table(title="Timeline (newest first)")
    for column in ("when", "type", "details"):
        timeline.add_column(column)
    for event in view["timeline"]:
        details = ", ".join(f"{key}={value}" for key, value in event["properties"].items() if value is not None)
        timeline.add_row(f"{event['occurred_at']:%Y-%m-%d %H:%M}", event["type"], details[:80])
    console.print(timeline)
    if view["messages"]:
        sent = Table("campaign", "channel", "variant", "status", "sent (UTC)", title="Messages (send ledger)")
        for message in view["messages"]:
            when = f"{message['sent_at']:%Y-%m-%d %H:%M}" if message["sent_at"] else ""
            status = message["status"] + (f" ({message['reason']})" if message["reason"] else "")
            sent.add_row(message["campaign"], message["channel"], message["variant"] or "", status, when)
        console.print(sent)


@app.command()
def count(json_output: bool = JSON_OPTION) -> None:
    """How many contacts (with email, phone, postal only, erased) and accounts."""
    with session_scope(engine()) as session:
        counts = count_contacts(session)
    if json_output:
        print_json(counts)
        return
    for key, value in counts.items():
        console.print(f"{key.replace('_', ' ')}: [bold]{value:,}[/]")


@app.command()
def export(fmt: str = typer.Option("csv", "--format", help="csv or jsonl."),
           out: Path | None = typer.Option(None, "--out", help="Output file (default: standard output).")) -> None:
    """Export every contact (streamed, flat memory) as CSV or JSON lines."""
    if fmt not in ("csv", "jsonl"):
        raise fail("--format must be csv or jsonl")
    target = out.open("w", encoding="utf-8", newline="") if out else nullcontext(sys.stdout)
    with target as handle, session_scope(engine()) as session, progress(out is not None) as bar:
        task = bar.add_task(f"Exporting to {out}", total=count_contacts(session)["contacts"])
        written = write_export(session, handle, fmt, on_progress=lambda done: bar.advance(task, done))
    if out:
        console.print(f"{written:,} contacts written to {out}")


@app.command()
def duplicates(
    threshold: float = typer.Option(88.0, help="Minimum similarity (0–100) of names."),
    limit: int = typer.Option(200, help="At most this many pairs."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Possible duplicates to review: same name + company with different emails, close spellings, shared phones."""
    with session_scope(engine()) as session, err_console.status("Comparing contacts…", spinner="dots"):
        pairs = find_duplicates(session, threshold=threshold, limit=limit)
    if json_output:
        print_json([pair.as_dict() for pair in pairs])
        return
    table = Table(title=f"{len(pairs)} possible duplicates — merge with `relance contacts merge ID ID`")
    for column in ("ids", "score", "reason", "first", "second"):
        table.add_column(column)
    for pair in pairs:
        table.add_row(f"{pair.first_id} {pair.second_id}", f"{pair.score:.0f}", pair.reason, pair.first, pair.second)
    console.print(table)


@app.command()
def merge(survivor: int = typer.Argument(..., help="Id of the contact that stays."),
          other: int = typer.Argument(..., help="Id of the contact merged into it (then deleted)."),
          json_output: bool = JSON_OPTION) -> None:
    """Merge two contacts: history, consents, tags and memberships move to the first one."""
    try:
        with session_scope(engine()) as session:
            result = merge_contacts(session, survivor, other)
    except MergeError as exc:
        raise fail(str(exc)) from exc
    if json_output:
        print_json({"survivor_id": result.survivor_id, "merged_id": result.merged_id,
                    "fields_taken": result.fields_taken, "moved": result.moved})
        return
    taken = ", ".join(result.fields_taken) or "none"
    console.print(f"Merged contact #{other} into #{survivor} (fields taken: {taken}).")


@app.command()
def erase(ident: str = IDENT_ARGUMENT, yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
          json_output: bool = JSON_OPTION) -> None:
    """GDPR erasure: personal data removed; the hashed addresses stay suppressed so they are never contacted."""
    with session_scope(engine()) as session:
        contact = _find(session, ident)
        if not yes and (json_output or not typer.confirm(f"Erase contact #{contact.id} for good?")):
            raise fail("erasure not confirmed (pass --yes)")
        result = erase_contact(session, contact)
    if json_output:
        print_json(result)
        return
    console.print(f"Contact #{result['contact_id']} erased; suppressed: {', '.join(result.get('suppressed', []))}.")


@app.command("export-personal-data")
def export_personal_data(
    ident: str = IDENT_ARGUMENT,
    out: Path | None = typer.Option(None, "--out", help="Write the JSON here."),
    json_output: bool = typer.Option(True, "--json", hidden=True, help="Accepted for consistency: output is JSON."),
) -> None:
    """Everything held about one person, as JSON (GDPR access request)."""
    with session_scope(engine()) as session:
        data = personal_data(session, _find(session, ident))
    if out is None:
        print_json(data)
        return
    out.write_text(to_json(data), encoding="utf-8")
    console.print(f"Personal data written to {out}")
