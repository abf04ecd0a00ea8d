"""OutgoingMessage → RFC 5322 email (text + HTML alternative, attachments, our headers), for SMTP and the outbox."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from connectors.base import OutgoingMessage
from core import clock

MESSAGE_ID_HEADER = "X-Relance-Message-Id"


def build_email(message: OutgoingMessage, *, default_from: str | None = None) -> EmailMessage:
    """A MIME email carrying the message's headers, both bodies and its attachments."""
    email = EmailMessage()
    sender = message.from_address or default_from
    if not sender:
        raise ValueError(f"message {message.message_id}: no From address")
    email["From"] = sender
    email["To"] = message.to
    email["Subject"] = message.subject or ""
    email["Date"] = format_datetime(clock.now())
    domain = parseaddr(sender)[1].rpartition("@")[2] or "relance.local"
    email["Message-ID"] = make_msgid(idstring=message.message_id.replace("-", ""), domain=domain)
    if message.reply_to:
        email["Reply-To"] = message.reply_to
    email[MESSAGE_ID_HEADER] = message.message_id
    for name, value in message.headers.items():
        email[name] = value
    email.set_content(message.text or "")
    if message.html:
        email.add_alternative(message.html, subtype="html")
    for attachment in message.attachments:
        maintype, _, subtype = attachment.mime_type.partition("/")
        email.add_attachment(attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return email
