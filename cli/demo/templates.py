"""Demo step: sync the template library and render it for a few demo contacts into the outbox."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from cli.demo.context import DemoContext
from connectors.base import OutgoingMessage
from connectors.registry import get_backend
from core.models import Contact, Template
from templates.context import CONTACT_FIELDS
from templates.errors import RenderError
from templates.pipeline import prepare, sync_library

FALLBACK_CONTACTS = [
    {"id": 900001, "email": "camille.martin@example.com", "phone": "+33612345678", "first_name": "Camille",
     "last_name": "Martin", "company": "Atelier Martin", "language": "fr", "country": "FR",
     "address_line1": "12 rue des Lilas", "postcode": "69003", "city": "Lyon", "attributes": {}},
    {"id": 900002, "email": "oliver.smith@example.co.uk", "phone": "+447700900123", "first_name": "Oliver",
     "last_name": "Smith", "company": "Smith & Sons", "language": "en", "country": "GB",
     "address_line1": "221B Baker Street", "postcode": "NW1 6XE", "city": "London", "attributes": {}},
]


def _demo_contacts(session: Session) -> list[dict[str, Any]]:
    """Two French and two English-speaking contacts with an email, a phone and a postal address."""
    chosen: list[dict[str, Any]] = []
    for language in ("fr", "en"):
        rows = session.scalars(
            select(Contact).where(Contact.language == language, Contact.email.is_not(None),
                                  Contact.phone.is_not(None), Contact.address_line1.is_not(None),
                                  Contact.city.is_not(None)).order_by(Contact.id).limit(2)
        ).all()
        chosen += [{key: getattr(row, key) for key in CONTACT_FIELDS} for row in rows]
    return chosen or FALLBACK_CONTACTS


def run(context: DemoContext) -> None:
    console = context.console
    console.rule("[bold]Templates: the library rendered into the outbox")
    with Session(context.engine) as session:
        report = sync_library(session)
        console.print(f"Library synced: {len(report.created)} templates, {len(report.versions)} new versions"
                      + (f", [red]{len(report.errors)} refused[/]" if report.errors else ""))
        contacts = _demo_contacts(session)
        templates = session.execute(select(Template.name, Template.channel).order_by(Template.name)).all()
        outgoing: dict[str, list[OutgoingMessage]] = {"email": [], "sms": [], "mail": []}
        table = Table("template", "channel", "contact", "locale", "result", title="Rendered messages")
        for name, channel in templates:
            for number, contact in enumerate(contacts[:2] if channel == "mail" else contacts):
                prepared = prepare(session, name, locale=contact.get("language"), settings=context.settings)
                try:
                    message = prepared.render(contact, message_id=f"demo-{name}-{number}", campaign="demo",
                                              utm={"utm_source": "relance", "utm_medium": channel,
                                                   "utm_campaign": "demo"},
                                              extra={"survey_invitation": f"demo-{number}"})
                except RenderError as exc:
                    table.add_row(name, channel, contact.get("email") or "", prepared.ref.locale, f"[red]{exc}")
                    continue
                outgoing[channel].append(message)
                table.add_row(name, channel, message.to if channel != "mail" else " / ".join(message.address_lines),
                              prepared.ref.locale, _summary(message))
    console.print(table)
    written = {channel: len(messages) for channel, messages in outgoing.items()}
    for channel, messages in outgoing.items():
        backend = get_backend(channel, context.settings)
        try:
            backend.send(messages)
        finally:
            backend.close()
    outbox = context.settings.outbox_dir.resolve()
    console.print(f"Wrote {written['email']} emails (.eml), {written['sms']} SMS (JSON lines) and "
                  f"{written['mail']} letters (PDF + manifest) to [bold]{outbox}[/]: open "
                  f"{outbox / 'email'} in a mail client, {outbox / 'sms' / 'messages.jsonl'}, {outbox / 'mail'}.")


def _summary(message: OutgoingMessage) -> str:
    if message.channel == "sms":
        return f"{message.metadata['encoding']}, {message.metadata['segments']} segment(s)"
    if message.channel == "mail":
        return f"PDF, {message.metadata['pages']} page(s)"
    return str(message.subject)
