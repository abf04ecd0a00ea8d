"""SMS through Twilio's Messaging API with the official SDK (custom http_client for `api_base_url`)."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar
from urllib.parse import urlencode

import requests
from pydantic import SecretStr
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.exceptions import NameResolutionError, NewConnectionError

from connectors.base import Backend, ConfigurationError, Outcome, OutgoingMessage, Rejection, SendResult
from connectors.ratelimit import bucket_from_options
from connectors.twilio_events import OPTED_OUT, REJECTIONS

TWILIO_BASE = "https://api.twilio.com"
RATE_LIMITED = {20429, 429}
FINAL_CODES_REASONS = {OPTED_OUT: "recipient opted out", 21211: "invalid phone number",
                       21614: "not a mobile number", 21408: "region not enabled"}


def _never_sent(error: BaseException) -> bool:
    """True when the request cannot have reached Twilio (refused, unknown host, connect timeout)."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(error, requests.exceptions.ConnectionError):
        cause = error.args[0] if error.args else None
        return isinstance(getattr(cause, "reason", cause), NewConnectionError | NameResolutionError)
    return isinstance(error, ConnectionRefusedError | socket.gaierror)


class BaseURLHttpClient(TwilioHttpClient):
    """Twilio's HTTP client sending to `api_base_url` instead of https://api.twilio.com (tests, proxies)."""

    def __init__(self, api_base_url: str, timeout: float | None = None) -> None:
        super().__init__(timeout=timeout)
        self.api_base_url = api_base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url.startswith(TWILIO_BASE):
            url = self.api_base_url + url[len(TWILIO_BASE):]
        return super().request(method, url, *args, **kwargs)


class TwilioBackend(Backend):
    """Options: account_sid, auth_token (required), messaging_service_sid or from_number, api_base_url,
    status_callback (default: public_url + /webhooks/twilio/status), timeout, max_retries, backoff,
    rate_limit (segments/s: a long code sends about 1, toll-free 3, a short code 100+)."""

    name: ClassVar[str] = "twilio"
    channels: ClassVar[frozenset[str]] = frozenset({"sms"})

    def __init__(self, channel: str, *, account_sid: str | None = None, auth_token: str | SecretStr | None = None,
                 messaging_service_sid: str | None = None, from_number: str | None = None,
                 api_base_url: str | None = None, status_callback: str | None = None, timeout: float = 10.0,
                 max_retries: int = 2, backoff: float = 0.5, rate_limit: float | None = None,
                 sleep: Callable[[float], None] = time.sleep, **options: Any) -> None:
        super().__init__(channel, **options)
        token = auth_token.get_secret_value() if isinstance(auth_token, SecretStr) else auth_token
        if not account_sid or not token:
            raise ConfigurationError("twilio backend needs `account_sid` and `auth_token` options")
        if not (messaging_service_sid or from_number):
            raise ConfigurationError("twilio backend needs `messaging_service_sid` or `from_number`")
        http_client = BaseURLHttpClient(api_base_url or TWILIO_BASE, timeout=float(timeout))
        self.client = Client(account_sid, token, http_client=http_client)
        self.sender = {"messaging_service_sid": messaging_service_sid} if messaging_service_sid else \
            {"from_": from_number}
        self.status_callback = status_callback
        self.max_retries, self.backoff = int(max_retries), float(backoff)
        self.bucket = bucket_from_options(rate_limit)
        self.sleep = sleep

    @classmethod
    def options_from_settings(cls, channel: str, settings: Any) -> dict[str, Any]:
        options: dict[str, Any] = {"status_callback": f"{settings.public_url.rstrip('/')}/webhooks/twilio/status"}
        if settings.twilio_auth_token is not None:
            options["auth_token"] = settings.twilio_auth_token
        return options

    def _callback(self, message_id: str) -> str | None:
        """The status callback URL carrying our message id (`m`), so even a send whose answer was lost is
        matched to its ledger row by the callbacks that follow."""
        if not self.status_callback:
            return None
        separator = "&" if "?" in self.status_callback else "?"
        return f"{self.status_callback}{separator}{urlencode({'m': message_id})}"

    def _send_one(self, message: OutgoingMessage) -> SendResult:
        attempt = 0
        segments = int(message.metadata.get("segments") or 1)
        while True:
            if self.bucket is not None:  # Twilio's throughput is counted in segments, not messages
                self.bucket.acquire(min(segments, self.bucket.capacity))
            try:
                created = self.client.messages.create(to=message.to, body=message.text or "",
                                                      status_callback=self._callback(message.message_id),
                                                      **self.sender)
                parts = int(created.num_segments or message.metadata.get("segments") or 1)
                return SendResult(message.message_id, Outcome.ACCEPTED, self.name, provider_message_id=created.sid,
                                  parts=parts)
            except TwilioRestException as error:
                if error.code in RATE_LIMITED or error.status == 429 or error.status >= 500:
                    reason = f"HTTP {error.status} ({error.code}): {error.msg}"
                else:
                    text = FINAL_CODES_REASONS.get(error.code or 0, f"HTTP {error.status} ({error.code}): {error.msg}")
                    return SendResult(message.message_id, Outcome.REJECTED, self.name, reason=text,
                                      rejection=REJECTIONS.get(error.code or 0, Rejection.REJECTED))
            except (TwilioException, OSError) as error:
                reason = f"network error: {error}"
                if not _never_sent(error):  # no idempotency key: the status callback will tell
                    return SendResult(message.message_id, Outcome.UNKNOWN, self.name, reason=reason)
            wait = self.backoff * (2 ** attempt) * random.uniform(0.5, 1.5)
            attempt += 1
            if attempt > self.max_retries:
                return SendResult(message.message_id, Outcome.RETRY, self.name, reason=reason,
                                  retry_after=max(wait, 1.0))
            self.sleep(wait)

    def send(self, batch: Sequence[OutgoingMessage]) -> list[SendResult]:
        return [self._send_one(message) for message in batch]

    def close(self) -> None:
        session = getattr(self.client.http_client, "session", None)
        if session is not None:
            session.close()
