"""Twilio messaging webhooks: X-Twilio-Signature check, status callbacks and inbound SMS keywords."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from connectors.base import FeedbackEvent, Rejection

SIGNATURE_HEADER = "X-Twilio-Signature"
PROVIDER = "twilio"

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "ARRET"})
OPT_IN = frozenset({"START", "UNSTOP", "YES"})
HELP = frozenset({"HELP", "INFO", "AIDE"})  # AIDE: the French word people actually send
OPTED_OUT = 21610  # sending to a number that replied STOP
# Twilio's error codes of a final refusal → why, in our words (the ledger's reason, feedback's cue).
REJECTIONS = {OPTED_OUT: Rejection.OPTED_OUT, 21211: Rejection.INVALID_ADDRESS, 21614: Rejection.INVALID_ADDRESS}

# Twilio status -> our Event.type; statuses not listed are intermediate and produce no timeline event.
STATUS_TYPES: dict[str, str] = {
    "delivered": "sms.delivered",
    "read": "sms.delivered",
    "undelivered": "sms.failed",
    "failed": "sms.failed",
}


class FormParams(dict[str, list[str]]):
    """Form parameters with repeated names kept (what Twilio signed), readable by RequestValidator."""

    @classmethod
    def from_body(cls, body: str) -> FormParams:
        params = cls()
        for name, value in parse_qsl(body, keep_blank_values=True, strict_parsing=False):
            params.setdefault(name, []).append(value)
        return params

    def getall(self, name: str) -> list[str]:
        return self[name]

    def first(self, name: str) -> str | None:
        values = self.get(name)
        return values[0] if values else None


def verify_signature(url: str, params: FormParams, signature: str | None, auth_token: str) -> bool:
    """Whether `signature` is Twilio's HMAC of `url` (as Twilio called it) and every form parameter."""
    if not signature or not auth_token:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))


def keyword(body: str | None) -> str | None:
    """'opt_out', 'opt_in' or 'help' when the message is one keyword (case, accents, spaces ignored)."""
    if not body:
        return None
    folded = unicodedata.normalize("NFKD", body).encode("ascii", "ignore").decode().strip().upper()
    folded = re.sub(r"[\s.!?]+$", "", folded)
    if not folded or " " in folded:
        return None
    if folded in OPT_OUT:
        return "opt_out"
    if folded in OPT_IN:
        return "opt_in"
    if folded in HELP:
        return "help"
    return None


def status_event(params: FormParams, *, message_id: str | None, occurred_at: datetime) -> FeedbackEvent | None:
    """The FeedbackEvent of a status callback, or None for an intermediate status (queued, sent, ...)."""
    sid = params.first("MessageSid") or params.first("SmsSid")
    status = (params.first("MessageStatus") or params.first("SmsStatus") or "").lower()
    kind = STATUS_TYPES.get(status)
    if not sid or kind is None:
        return None
    properties: dict[str, Any] = {"status": status}
    error = params.first("ErrorCode")
    if error:
        properties["error_code"] = error
        rejection = REJECTIONS.get(int(error)) if error.isdigit() else None
        if rejection is not None:
            properties["rejection"] = str(rejection)
    return FeedbackEvent(
        type=kind, provider=PROVIDER, dedupe_key=f"twilio:{sid}:{status}", occurred_at=occurred_at,
        message_id=message_id, provider_message_id=sid, address=params.first("To"), properties=properties,
    )


def inbound_event(params: FormParams, *, occurred_at: datetime) -> FeedbackEvent | None:
    """The `sms.received` FeedbackEvent of an inbound message (with its keyword), or None without a sid."""
    sid = params.first("MessageSid") or params.first("SmsSid")
    sender = params.first("From")
    if not sid or not sender:
        return None
    body = params.first("Body") or ""
    properties = {"body": body[:1600], "to": params.first("To"), "keyword": keyword(body)}
    return FeedbackEvent(
        type="sms.received", provider=PROVIDER, dedupe_key=f"twilio:{sid}:received", occurred_at=occurred_at,
        provider_message_id=sid, address=sender, properties=properties,
    )


def twiml_reply(text: str | None) -> str:
    """A TwiML document answering with `text` (or answering nothing)."""
    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response)


def public_url(base: str, path: str, query: str = "") -> str:
    """The URL Twilio called, rebuilt from our public base URL (proxies change host, scheme and port)."""
    url = base.rstrip("/") + path
    return f"{url}?{query}" if query else url


def as_pairs(params: Mapping[str, Iterable[str]]) -> list[tuple[str, str]]:
    """Form parameters as (name, value) pairs, repeated names kept."""
    return [(name, value) for name, values in params.items() for value in values]
