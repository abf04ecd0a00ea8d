"""SendGrid Event Webhook: ECDSA signature check over timestamp + raw body, and parsing into FeedbackEvents."""

from __future__ import annotations

import binascii
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from sendgrid.helpers.eventwebhook import EventWebhook

from connectors.base import FeedbackEvent

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
PROVIDER = "sendgrid"

# SendGrid event name -> our Event.type vocabulary.
EVENT_TYPES: dict[str, str] = {
    "processed": "email.processed",
    "dropped": "email.dropped",
    "delivered": "email.delivered",
    "deferred": "email.deferred",
    "bounce": "email.bounced",
    "open": "email.opened",
    "click": "email.clicked",
    "spamreport": "email.complained",
    "unsubscribe": "email.unsubscribed",
    "group_unsubscribe": "email.unsubscribed",
    "group_resubscribe": "email.resubscribed",
}
# Extra fields kept in the event's properties (never the whole payload: it may carry PII in custom args).
_KEPT = ("reason", "status", "response", "attempt", "useragent", "ip", "url", "asm_group_id", "sg_machine_open",
         "category", "type", "bounce_classification")


class WebhookRejected(ValueError):
    """A webhook request that must be refused; `status` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


@lru_cache(maxsize=8)
def _public_key(public_key: str) -> Any:
    return EventWebhook().convert_public_key_to_ecdsa(public_key.strip())


def verify_signature(body: bytes, signature: str | None, timestamp: str | None, public_key: str, *,
                     now: datetime, window: int) -> None:
    """Raise WebhookRejected unless `signature` signs timestamp + the raw body and the timestamp is fresh."""
    if not signature or not timestamp:
        raise WebhookRejected("missing signature headers")
    try:
        payload = body.decode("utf-8")
        key = _public_key(public_key)
        valid = EventWebhook().verify_signature(payload, signature, timestamp, key)
    except (UnicodeDecodeError, binascii.Error, ValueError, InvalidSignature):
        valid = False
    if not valid:
        raise WebhookRejected("signature does not verify")
    try:
        sent_at = int(timestamp)
    except ValueError as exc:  # pragma: no cover - a non-numeric timestamp cannot carry a valid signature
        raise WebhookRejected("timestamp is not a number") from exc
    if abs(now.timestamp() - sent_at) > window:
        raise WebhookRejected("timestamp outside the replay window")


def parse_body(body: bytes | str) -> list[dict[str, Any]]:
    """The events of a webhook body: a JSON array of objects; raise WebhookRejected(400) otherwise."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookRejected(f"body is not JSON: {exc}", 400) from exc
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise WebhookRejected("body must be a JSON array of event objects", 400)
    return data


def parse_events(body: bytes | str) -> tuple[list[FeedbackEvent], int]:
    """Normalised events of a (verified) body, and how many raw events were skipped as unusable."""
    events: list[FeedbackEvent] = []
    skipped = 0
    for raw in parse_body(body):
        event = to_feedback_event(raw)
        if event is None:
            skipped += 1
        else:
            events.append(event)
    return events, skipped


def to_feedback_event(raw: Mapping[str, Any]) -> FeedbackEvent | None:
    """One SendGrid event as a FeedbackEvent, or None when its type is unknown or it is unusable."""
    kind = EVENT_TYPES.get(str(raw.get("event")))
    if kind is None:
        return None
    properties = {name: raw[name] for name in _KEPT if name in raw and _scalar(raw[name])}
    properties["sendgrid_event"] = raw.get("event")
    if raw.get("event") == "bounce":
        properties["bounce"] = bounce_kind(raw)
    return FeedbackEvent(
        type=kind,
        provider=PROVIDER,
        dedupe_key=f"sendgrid:{_event_id(raw)}",
        occurred_at=_occurred_at(raw.get("timestamp")),
        message_id=_message_id(raw.get("message_id")),
        provider_message_id=_text(raw.get("sg_message_id"), 255),
        address=_text(raw.get("email"), 320),
        properties=properties,
    )


def bounce_kind(raw: Mapping[str, Any]) -> str:
    """hard (type=bounce), blocked (type=blocked) or soft (anything else, e.g. a 4xx status)."""
    kind = str(raw.get("type") or "bounce").lower()
    if kind == "blocked":
        return "blocked"
    status = str(raw.get("status") or "")
    return "soft" if status.startswith("4") else "hard"


def _event_id(raw: Mapping[str, Any]) -> str:
    event_id = _text(raw.get("sg_event_id"), 200)
    if event_id:
        return event_id
    # No id (very old or hand-made payloads): a stable hash of the event's content identifies it.
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
    return f"h:{digest[:40]}"


def _occurred_at(value: Any) -> datetime:
    try:
        return _from_timestamp(int(value))
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(UTC)


@lru_cache(maxsize=4096)
def _from_timestamp(seconds: int) -> datetime:
    # One object per second: a batch's events share few timestamps, and bulk inserts convert each object once.
    return datetime.fromtimestamp(seconds, UTC)


def _message_id(value: Any) -> str | None:
    text = _text(value, 36)
    return text if text and len(str(value)) <= 36 else None


def _text(value: Any, limit: int) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text[:limit] or None


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool) or (
        isinstance(value, list) and all(isinstance(item, str | int | float) for item in value))
