"""`relance template` commands: check, preview, list and sync message templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.panel import Panel
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cli.common import console, engine, fail, print_json, settings
from core.models import Contact, Template, TemplateVersion
from templates.check import check_template
from templates.errors import RenderError, TemplateError, TemplateNotFound
from templates.library import LIBRARY_DIR, load_template
from templates.pipeline import prepare, sync_library

app = typer.Typer(help="Check, preview, list and sync message templates.", no_args_is_help=True)
CHANNEL_BY_SUFFIX = {".mjml": "email", ".txt": "sms", ".html": "mail"}


def _meta_for(path: Path) -> dict[str, Any]:
    """Subject/preheader of a library-style file (folder with template.yaml), if any."""
    if not (path.parent / "template.yaml").exists():
        return {}
    loaded = load_template(path.parent)
    item = loaded.locales.get(path.stem)
    return {"subject": item.subject, "preheader": item.preheader} if item else {}


@app.command()
def check(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Template source (.mjml, .txt or .html)."),
    subject: str | None = typer.Option(None, help="Subject template (default: from template.yaml next to FILE)."),
    locale: str = typer.Option("fr", help="Locale, for the SMS opt-out mention."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Refuse a template that does not compile or uses a variable contacts do not have (line + name)."""
    channel = CHANNEL_BY_SUFFIX.get(file.suffix)
    if channel is None:
        raise fail(f"unknown template type {file.suffix!r} (expected .mjml, .txt or .html)")
    try:
        meta = _meta_for(file)
        report = check_template(file.read_text(encoding="utf-8"), channel=channel, name=str(file), locale=locale,
                                subject=subject or meta.get("subject") or ("-" if channel == "email" else None),
                                preheader=meta.get("preheader"))
    except TemplateError as exc:
        if as_json:
            print_json({"ok": False, "error": str(exc), "line": exc.line, "name": exc.name})
            raise typer.Exit(1) from exc
        raise fail(str(exc)) from exc
    if as_json:
        print_json({"ok": True, "channel": channel, "variables": report.variables, **report.details})
        return
    details = ", ".join(f"{key}: {value}" for key, value in report.details.items() if key != "sample")
    console.print(f"[green]✓[/] {file} is a valid {channel} template ({details or 'ok'}).")


@app.command()
def sync(
    directory: Path = typer.Option(LIBRARY_DIR, "--dir", help="Library folder (one folder per template)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Load the template library into the database (a new version only when a source changed)."""
    with Session(engine()) as session:
        report = sync_library(session, directory)
    if as_json:
        print_json(report.as_dict())
    else:
        console.print(f"Templates: {len(report.created)} new, {len(report.versions)} new versions, "
                      f"{len(report.unchanged)} unchanged.")
        for key, version in report.versions.items():
            console.print(f"  [green]+[/] {key} v{version}")
        for error in report.errors:
            console.print(f"  [red]✗[/] {error}")
    if report.errors:
        raise typer.Exit(1)


@app.command("list")
def list_templates(as_json: bool = typer.Option(False, "--json", help="Print the result as JSON.")) -> None:
    """Templates in the database with their locales and latest versions."""
    with Session(engine()) as session:
        rows = session.execute(
            select(Template.name, Template.channel, Template.description, TemplateVersion.locale,
                   func.max(TemplateVersion.version))
            .join(TemplateVersion, TemplateVersion.template_id == Template.id)
            .group_by(Template.name, Template.channel, Template.description, TemplateVersion.locale)
            .order_by(Template.name, TemplateVersion.locale)
        ).all()
    templates: dict[str, dict[str, Any]] = {}
    for name, channel, description, locale, version in rows:
        entry = templates.setdefault(name, {"name": name, "channel": channel, "description": description,
                                            "versions": {}})
        entry["versions"][locale] = version
    if as_json:
        print_json(list(templates.values()))
        return
    table = Table("name", "channel", "versions", "description", title="Templates")
    for entry in templates.values():
        versions = ", ".join(f"{locale} v{version}" for locale, version in entry["versions"].items())
        table.add_row(entry["name"], entry["channel"], versions, entry["description"] or "")
    console.print(table)


def _find_contact(session: Session, address: str) -> Contact:
    contact = session.scalars(select(Contact).where(
        (func.lower(Contact.email) == address.strip().lower()) | (Contact.phone == address.strip()))).first()
    if contact is None:
        raise fail(f"no contact with email or phone {address!r}")
    return contact


@app.command()
def preview(
    name: str = typer.Argument(..., help="Template name, e.g. welcome."),
    contact: str = typer.Option(..., "--contact", help="Email (or phone) of the contact to render for."),
    locale: str | None = typer.Option(None, help="Locale (default: the contact's language)."),
    out: Path | None = typer.Option(None, "--out", help="Write the HTML (email) or PDF (letter) here."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Render a template for one contact: subject and text (email), encoding and segments (SMS), PDF (letter)."""
    with Session(engine()) as session:
        person = _find_contact(session, contact)
        try:
            prepared = prepare(session, name, locale=locale or person.language, settings=settings())
            message = prepared.render(person, message_id="preview", campaign="preview",
                                      extra={"survey_invitation": "preview"})
        except (TemplateNotFound, TemplateError, RenderError) as exc:
            raise fail(str(exc)) from exc
    if out is not None:
        if message.attachments:
            out.write_bytes(message.attachments[0].content)
        else:
            out.write_text(message.html or message.text or "", encoding="utf-8")
    summary = {"template": name, "version": prepared.ref.version, "locale": prepared.ref.locale,
               "channel": message.channel, "to": message.to, "subject": message.subject, "text": message.text,
               "encoding": message.metadata.get("encoding"), "segments": message.metadata.get("segments"),
               "pages": message.metadata.get("pages"), "address_lines": list(message.address_lines),
               "out": str(out) if out else None}
    if as_json:
        print_json(summary)
        return
    _print_preview(summary)


def _print_preview(summary: dict[str, Any]) -> None:
    title = f"{summary['template']} v{summary['version']} ({summary['locale']}) → {summary['to']}"
    if summary["channel"] == "sms":
        body = f"{summary['text']}\n\n[dim]{summary['encoding']}, {summary['segments']} segment(s)[/]"
    elif summary["channel"] == "mail":
        body = "\n".join(summary["address_lines"]) + f"\n\n[dim]{summary['pages']} page(s)[/]"
    else:
        body = f"[bold]{summary['subject']}[/]\n\n{summary['text']}"
    if summary["out"]:
        body += f"\n\n[green]written to {summary['out']}[/]"
    console.print(Panel(body, title=title))
