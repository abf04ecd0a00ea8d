"""Fast signing of tracked links (same tokens as core.links, keys derived once) and UTM tagging."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from core.links import LINKS
from core.settings import Settings

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class LinkSigner:
    """Builds the signed public URLs of core.links with precomputed keys (verifiable by read_link_token).

    Payloads are serialised exactly as `core.signing.sign` does (sorted keys, compact separators), but
    from pre-escaped JSON fragments, so a tracked link costs one HMAC and one base64 per recipient.
    """

    def __init__(self, settings: Settings) -> None:
        secret = settings.secret_key.get_secret_value()
        base = settings.public_url.rstrip("/")
        # HMAC states keyed once; each link copies one (half the hashing of hmac.digest, which re-keys per call).
        self._macs = {kind: hmac.new(hashlib.sha256(f"relance:{purpose}:{secret}".encode()).digest(),
                                     digestmod=hashlib.sha256) for kind, (_, purpose) in LINKS.items()}
        self._prefixes = {kind: f"{base}{path}" for kind, (path, _) in LINKS.items()}
        self.unsubscribe_mailto_domain = settings.from_email.rpartition("@")[2].strip(" >") or "example.com"

    def _url(self, kind: str, body: str) -> str:
        raw = body.encode()
        state = self._macs[kind].copy()
        state.update(raw)
        return f"{self._prefixes[kind]}{_b64(raw)}.{_b64(state.digest()[:16])}"

    def click(self, message_json: str, destination_json: str) -> str:
        """Click URL; both arguments are JSON-encoded strings (json.dumps of the id and destination)."""
        return self._url("click", '{"m":' + message_json + ',"url":' + destination_json + "}")

    def open(self, message_json: str) -> str:
        """Open-pixel URL for a JSON-encoded message id."""
        return self._url("open", '{"m":' + message_json + "}")

    def unsubscribe(self, contact_json: str, message_json: str) -> str:
        """Unsubscribe URL (one-click and preference page) for JSON-encoded contact and message ids."""
        return self._url("unsubscribe", '{"c":' + contact_json + ',"m":' + message_json + "}")

    def survey(self, invitation: str, contact_id: int | None = None) -> str:
        """Survey link of an invitation (= its ledger message id) for its contact (core.links.survey_url)."""
        return self._url("survey", '{"c":' + json.dumps(contact_id) + ',"i":' + json.dumps(invitation) + "}")

    def token_of(self, url: str) -> str:
        """The token part of one of our URLs."""
        return url.rpartition("/")[2]


def append_utm(url: str, utm: Mapping[str, str] | None) -> str:
    """`url` with the UTM parameters added (parameters already in the URL win); non-web URLs unchanged."""
    if not utm:
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return url
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _ in query}
    added = [(key, str(utm[key])) for key in UTM_KEYS if utm.get(key) and key not in present]
    if not added:
        return url
    joined = f"{parts.query}&{urlencode(added)}" if parts.query else urlencode(added)
    return urlunsplit(parts._replace(query=joined))
