"""Email over SMTP with smtplib: one reused connection, STARTTLS or SSL, auth, optional DKIM signing (dkimpy)."""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from collections.abc import Sequence
from email.utils import parseaddr
from pathlib import Path
from typing import Any, ClassVar

import dkim
from pydantic import SecretStr

from connectors.base import Backend, ConfigurationError, Outcome, OutgoingMessage, Rejection, SendResult
from connectors.mime import build_email
from connectors.ratelimit import bucket_from_options

DKIM_HEADERS = [b"from", b"to", b"subject", b"date", b"message-id", b"list-unsubscribe", b"list-unsubscribe-post"]


class SMTPBackend(Backend):
    """Options: host, port, username, password, security (starttls | ssl | none), ca_file (a private CA's PEM
    for the relay's certificate), timeout, from_email, dkim_selector + dkim_domain + dkim_private_key (PEM text
    or path), rate_limit (messages/s)."""

    name: ClassVar[str] = "smtp"
    channels: ClassVar[frozenset[str]] = frozenset({"email"})

    def __init__(self, channel: str, *, host: str = "localhost", port: int | None = None, username: str | None = None,
                 password: str | SecretStr | None = None, security: str = "starttls", timeout: float = 30.0,
                 from_email: str | None = None, dkim_selector: str | None = None, dkim_domain: str | None = None,
                 dkim_private_key: str | SecretStr | None = None, rate_limit: float | None = None,
                 ca_file: str | None = None, **options: Any) -> None:
        super().__init__(channel, **options)
        if security not in ("starttls", "ssl", "none"):
            raise ConfigurationError(f"security must be starttls, ssl or none, got {security!r}")
        self.host, self.security, self.timeout = host, security, float(timeout)
        if ca_file is not None and not Path(ca_file).is_file():
            raise ConfigurationError(f"ca_file {ca_file!r} does not exist")
        self.ca_file = ca_file
        self.port = int(port or {"ssl": 465, "starttls": 587, "none": 25}[security])
        self.username = username
        self.password = password.get_secret_value() if isinstance(password, SecretStr) else password
        self.default_from = from_email
        self.dkim = self._dkim(dkim_selector, dkim_domain, dkim_private_key)
        self.bucket = bucket_from_options(rate_limit)
        self.connection: smtplib.SMTP | None = None

    @staticmethod
    def _dkim(selector: str | None, domain: str | None,
              key: str | SecretStr | None) -> tuple[bytes, bytes, bytes] | None:
        if not (selector or domain or key):
            return None
        if not (selector and domain and key):
            raise ConfigurationError("DKIM needs dkim_selector, dkim_domain and dkim_private_key")
        text = key.get_secret_value() if isinstance(key, SecretStr) else key
        if "PRIVATE KEY" not in text:
            text = Path(text).read_text()
        return selector.encode(), domain.encode(), text.encode()

    @classmethod
    def options_from_settings(cls, channel: str, settings: Any) -> dict[str, Any]:
        return {"from_email": settings.from_email}

    def open(self) -> smtplib.SMTP:
        """The connection, opened and authenticated on first use (a dropped one is reopened by `_send_one`)."""
        if self.connection is not None:
            return self.connection
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.security == "ssl":
            connection: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.security == "starttls":
                connection.starttls(context=context)
        if self.username:
            connection.login(self.username, self.password or "")
        self.connection = connection
        return connection

    def _payload(self, message: OutgoingMessage) -> bytes:
        raw = bytes(build_email(message, default_from=self.default_from))
        if self.dkim is None:
            return raw
        selector, domain, key = self.dkim
        signature = dkim.sign(raw, selector, domain, key, include_headers=DKIM_HEADERS)
        return signature + raw

    def _deliver(self, sender: str, recipient: str, payload: bytes) -> dict[str, tuple[int, bytes]]:
        """sendmail on the kept connection; one that the server dropped while idle is reopened once."""
        reused = self.connection is not None
        try:
            return self.open().sendmail(sender, [recipient], payload)
        except (smtplib.SMTPServerDisconnected, ConnectionResetError, BrokenPipeError):
            self.close()
            if not reused:
                raise
        return self.open().sendmail(sender, [recipient], payload)

    def _send_one(self, message: OutgoingMessage) -> SendResult:
        sender = parseaddr(message.from_address or self.default_from or "")[1]
        try:
            payload = self._payload(message)
            refused = self._deliver(sender, parseaddr(message.to)[1], payload)
        except smtplib.SMTPAuthenticationError as error:
            self.close()  # the relay refuses our credentials: no message is at fault, keep them for a retry
            return SendResult(message.message_id, Outcome.RETRY, self.name, retry_after=300.0,
                              reason=f"SMTP authentication failed: {error.smtp_code} {error.smtp_error!r}")
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()))
            outcome = Outcome.RETRY if 400 <= code < 500 else Outcome.REJECTED
            return SendResult(message.message_id, outcome, self.name, reason=f"{code} {text.decode(errors='replace')}",
                              retry_after=60.0 if outcome is Outcome.RETRY else None,
                              rejection=Rejection.INVALID_ADDRESS if outcome is Outcome.REJECTED else None)
        except smtplib.SMTPResponseException as error:
            outcome = Outcome.RETRY if 400 <= error.smtp_code < 500 else Outcome.REJECTED
            detail = error.smtp_error
            reason = f"{error.smtp_code} {detail.decode(errors='replace') if isinstance(detail, bytes) else detail}"
            return SendResult(message.message_id, outcome, self.name, reason=reason,
                              retry_after=60.0 if outcome is Outcome.RETRY else None)
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            return SendResult(message.message_id, Outcome.RETRY, self.name, reason=f"SMTP error: {error}",
                              retry_after=30.0)
        if refused:
            code, text = next(iter(refused.values()))
            return SendResult(message.message_id, Outcome.REJECTED, self.name, reason=f"{code} {text!r}",
                              rejection=Rejection.INVALID_ADDRESS)
        return SendResult(message.message_id, Outcome.ACCEPTED, self.name, provider_message_id=message.message_id)

    def send(self, batch: Sequence[OutgoingMessage]) -> list[SendResult]:
        results = []
        for message in batch:
            if self.bucket is not None:
                self.bucket.acquire()
            results.append(self._send_one(message))
        return results

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.connection.quit()
            self.connection = None
