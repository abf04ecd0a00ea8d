"""The weekly report by email: one message per recipient with the PDF attached, sent through the email connector."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from markupsafe import escape

from connectors.base import Attachment, Backend, Outcome, OutgoingMessage, SendResult
from core.settings import Settings
from reports.money import cents
from reports.pdf import ReportData


class ReportNotSent(RuntimeError):
    """The provider asked to retry later (the flow's task retries)."""


@dataclass(frozen=True)
class Delivery:
    """What happened to the report for one recipient."""

    to: str
    outcome: str
    reason: str | None = None


def _summary(data: ReportData) -> list[str]:
    headline, currency = data.headline, data.currency
    roi = f"{float(headline.roi):.0%}" if headline.roi is not None else "—"
    return [f"Spend: {cents(headline.spend):,.2f} {currency}",
            f"Attributed revenue: {cents(headline.attributed_revenue):,.2f} {currency} (ROI {roi})",
            f"All revenue: {cents(headline.revenue):,.2f} {currency} from {headline.conversions} conversions",
            f"Messages sent: {headline.messages_sent:,} by {headline.campaigns_active} campaign(s)"]


def report_messages(pdf: bytes, data: ReportData, recipients: Sequence[str],
                    settings: Settings) -> list[OutgoingMessage]:
    """One email per recipient; the message id is stable per period and recipient (a resend overwrites, not doubles)."""
    since = data.period.since
    until = data.period.until - timedelta(seconds=1) if data.period.until else None
    span = f"{since:%d %b} – {until:%d %b %Y}" if since and until else "to date"
    subject = f"Relance report: {span}"
    lines = _summary(data)
    text = "\n".join([f"{data.title} ({span})", "", *lines, "", "The full report is attached (PDF)."])
    html = (f"<h2>{escape(data.title)}</h2><p>{escape(span)}</p><ul>"
            + "".join(f"<li>{escape(line)}</li>" for line in lines)
            + "</ul><p>The full report is attached (PDF).</p>")
    filename = f"relance-report-{since:%Y-%m-%d}.pdf" if since else "relance-report.pdf"
    messages = []
    for recipient in recipients:
        key = hashlib.sha256(f"{filename}|{recipient}".encode()).hexdigest()[:24]
        messages.append(OutgoingMessage(
            message_id=f"report-{key}", channel="email", to=recipient, subject=subject, html=html, text=text,
            from_address=settings.from_email, reply_to=settings.reply_to, categories=("report",),
            attachments=(Attachment(filename, pdf, "application/pdf"),)))
    return messages


def send_report(backend: Backend, messages: Sequence[OutgoingMessage]) -> list[Delivery]:
    """Send the messages; a provider asking to retry raises ReportNotSent, a rejection is reported per recipient."""
    results: list[SendResult] = backend.send(list(messages))
    if any(result.outcome == Outcome.RETRY for result in results):
        reasons = "; ".join(str(result.reason) for result in results if result.outcome == Outcome.RETRY)
        raise ReportNotSent(f"the email provider asked to retry later: {reasons}")
    return [Delivery(message.to, result.outcome.value, result.reason)
            for message, result in zip(messages, results, strict=True)]
