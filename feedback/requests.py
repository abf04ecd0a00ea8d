"""Turning stored raw requests (webhooks, open/click hits) into normalised FeedbackEvents."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from connectors import sendgrid_events, twilio_events
from connectors.base import FeedbackEvent
from core import clock
from feedback.machines import is_machine

PROVIDERS = ("sendgrid", "twilio-status", "twilio-inbound", "open", "click")
# The stored requests that can prove a message of a channel went out (a dispatcher applies them before a resend).
PROOF_OF_SENDING = {"email": ("sendgrid",), "sms": ("twilio-status",)}


def proving_providers(channels: Iterable[str]) -> tuple[str, ...]:
    """The providers whose stored feedback may prove a send on these channels."""
    return tuple(sorted({provider for channel in channels for provider in PROOF_OF_SENDING.get(channel, ())}))


class UnusableRequest(ValueError):
    """A stored request that cannot be turned into events (kept, marked failed, with this reason)."""


@dataclass(frozen=True)
class StoredRequest:
    """The columns of an InboundRequest the parsers need."""

    id: int
    provider: str
    headers: dict[str, Any]
    body: str
    received_at: datetime


def parse_request(request: StoredRequest) -> tuple[list[FeedbackEvent], int]:
    """The request's events and how many of its raw items were skipped (unknown types, intermediate statuses)."""
    parser = _PARSERS.get(request.provider)
    if parser is None:
        raise UnusableRequest(f"unknown provider {request.provider!r}")
    return parser(request)


def _sendgrid(request: StoredRequest) -> tuple[list[FeedbackEvent], int]:
    try:
        events, skipped = sendgrid_events.parse_events(request.body)
    except sendgrid_events.WebhookRejected as exc:
        raise UnusableRequest(str(exc)) from exc
    return [_flag_machine(event) for event in events], skipped


def _flag_machine(event: FeedbackEvent) -> FeedbackEvent:
    if event.type not in ("email.opened", "email.clicked"):
        return event
    properties = dict(event.properties)
    properties["machine"] = is_machine(properties.get("useragent"),
                                       provider_flag=bool(properties.get("sg_machine_open")))
    return FeedbackEvent(event.type, event.provider, event.dedupe_key, event.occurred_at, event.message_id,
                         event.provider_message_id, event.address, properties)


def _twilio_status(request: StoredRequest) -> tuple[list[FeedbackEvent], int]:
    params = twilio_events.FormParams.from_body(request.body)
    query = parse_qs(str(request.headers.get("query") or ""))
    message_id = query["m"][0][:36] if query.get("m") else None
    event = twilio_events.status_event(params, message_id=message_id, occurred_at=request.received_at)
    return ([event], 0) if event else ([], 1)


def _twilio_inbound(request: StoredRequest) -> tuple[list[FeedbackEvent], int]:
    params = twilio_events.FormParams.from_body(request.body)
    event = twilio_events.inbound_event(params, occurred_at=request.received_at)
    return ([event], 0) if event else ([], 1)


def _hit(request: StoredRequest) -> tuple[list[FeedbackEvent], int]:
    """An open-pixel or click hit stored by web/tracking: {"m", "url"?, "ua", "ip", "at"}."""
    try:
        data = json.loads(request.body)
        message_id = str(data["m"])[:36]
        occurred_at = clock.utc(datetime.fromisoformat(data["at"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise UnusableRequest(f"bad tracking hit: {exc}") from exc
    agent = data.get("ua")
    properties: dict[str, Any] = {"useragent": agent, "ip": data.get("ip"), "machine": is_machine(agent)}
    kind = "email.opened"
    if request.provider == "click":
        kind, properties["url"] = "email.clicked", data.get("url")
    event = FeedbackEvent(type=kind, provider="relance", dedupe_key=f"{request.provider}:{request.id}",
                          occurred_at=occurred_at, message_id=message_id, properties=properties)
    return [event], 0


_PARSERS: dict[str, Callable[[StoredRequest], tuple[list[FeedbackEvent], int]]] = {
    "sendgrid": _sendgrid,
    "twilio-status": _twilio_status,
    "twilio-inbound": _twilio_inbound,
    "open": _hit,
    "click": _hit,
}
