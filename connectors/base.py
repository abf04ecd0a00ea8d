"""The connector interface: outgoing messages in, one result per message out; normalised feedback events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar


class Outcome(StrEnum):
    """What a provider said about one message."""

    ACCEPTED = "accepted"  # the provider took it; delivery comes later through feedback
    REJECTED = "rejected"  # final: do not retry (bad address, opted out, 4xx...)
    RETRY = "retry"  # transient and certainly not sent: retry after `retry_after` seconds (429, 5xx, refused)
    # The request may have reached the provider (timeout, connection lost after sending): never resend blindly;
    # the provider's own feedback tells (the dispatcher waits for it, then resends only what it never saw).
    UNKNOWN = "unknown"


class Rejection(StrEnum):
    """Why a provider refused a message for good, as the code the ledger keeps (each provider words it its way)."""

    OPTED_OUT = "opted_out"  # the recipient opted out at the provider (Twilio 21610): mirrored as a consent
    INVALID_ADDRESS = "invalid_address"  # the address is malformed or cannot receive this channel
    REJECTED = "rejected"  # any other final refusal (content, sender, account)


@dataclass(frozen=True)
class Attachment:
    """A file attached to an email or the PDF of a letter."""

    filename: str
    content: bytes
    mime_type: str = "application/pdf"


@dataclass(frozen=True)
class OutgoingMessage:
    """One rendered message ready for a backend. `message_id` is the ledger id (our idempotency key)."""

    message_id: str
    channel: str  # email | sms | mail
    to: str  # email address, E.164 number, or contact id for letters
    subject: str | None = None
    html: str | None = None
    text: str | None = None
    from_address: str | None = None
    reply_to: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    categories: Sequence[str] = ()
    custom_args: Mapping[str, str] = field(default_factory=dict)
    attachments: Sequence[Attachment] = ()
    # Postal address lines for letters (already formatted to the postal norm).
    address_lines: Sequence[str] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    """The outcome for one message, in the same order as the batch sent."""

    message_id: str
    outcome: Outcome
    provider: str
    provider_message_id: str | None = None
    reason: str | None = None  # the provider's own words
    retry_after: float | None = None
    parts: int = 1  # SMS segments or letter pages, for costing
    cost: Decimal | None = None
    rejection: Rejection | None = None  # why, when the outcome is REJECTED (None: Rejection.REJECTED)


@dataclass(frozen=True)
class FeedbackEvent:
    """A provider's report about a message or a contact, normalised across providers."""

    type: str  # email.delivered, email.bounced, sms.received, ... (the Event.type vocabulary)
    provider: str
    dedupe_key: str
    occurred_at: datetime
    message_id: str | None = None  # our ledger id, when the provider echoes it back
    provider_message_id: str | None = None
    address: str | None = None  # email or phone the event is about
    properties: Mapping[str, Any] = field(default_factory=dict)


# Options every backend of a channel accepts because other parts read them (the SMS opt-out short number).
SHARED_OPTIONS = frozenset({"stop_number"})


class ConfigurationError(ValueError):
    """A channel's backend is unknown or its options are wrong (raised at start-up)."""


class Backend:
    """Base class of every connector: options come in through the constructor, never from globals."""

    name: ClassVar[str] = "base"
    channels: ClassVar[frozenset[str]] = frozenset()
    # Channels on which sending the same message id twice still delivers it once (e.g. a file named after the id):
    # after a crash, the dispatcher resends such messages at once instead of waiting for the provider's word.
    idempotent_channels: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, channel: str, **options: Any) -> None:
        if self.channels and channel not in self.channels:
            raise ConfigurationError(f"backend {self.name!r} cannot send on channel {channel!r}")
        unknown = sorted(set(options) - SHARED_OPTIONS)
        if unknown:  # a typo in RELANCE_CHANNELS must not be silently ignored
            raise ConfigurationError(f"backend {self.name!r} has no option {', '.join(map(repr, unknown))}")
        self.channel = channel
        self.options = options

    @classmethod
    def options_from_settings(cls, channel: str, settings: Any) -> dict[str, Any]:
        """Defaults this backend takes from settings (outbox folder, public URL...); options override them."""
        return {}

    def send(self, batch: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Send a batch; return one result per message, in order."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections (SMTP sessions, HTTP pools)."""
