"""Signed, URL-safe tokens (HMAC-SHA256) for links in messages: clicks, opens, unsubscribe, surveys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any


class BadToken(ValueError):
    """A token that is malformed, tampered with or signed for another purpose."""


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    padding = "=" * (-len(text) % 4)
    try:
        return base64.urlsafe_b64decode(text + padding)
    except (ValueError, TypeError) as exc:
        raise BadToken("token is not valid base64") from exc


def _mac(secret: str, purpose: str, body: bytes) -> bytes:
    key = hashlib.sha256(f"relance:{purpose}:{secret}".encode()).digest()
    return hmac.new(key, body, hashlib.sha256).digest()[:16]


def sign(payload: dict[str, Any], *, secret: str, purpose: str) -> str:
    """A compact token carrying `payload`, valid only for `purpose`."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64encode(body)}.{_b64encode(_mac(secret, purpose, body))}"


def unsign(token: str, *, secret: str, purpose: str) -> dict[str, Any]:
    """The payload of a token signed for `purpose`; raises BadToken otherwise."""
    body_text, _, mac_text = token.partition(".")
    if not body_text or not mac_text:
        raise BadToken("token has no signature")
    body = _b64decode(body_text)
    if not hmac.compare_digest(_mac(secret, purpose, body), _b64decode(mac_text)):
        raise BadToken("token signature does not match")
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise BadToken("token payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise BadToken("token payload is not an object")
    return payload


def hash_address(channel: str, address: str) -> str:
    """The stable hash under which a suppressed address is kept (survives erasure)."""
    normalised = address.strip().lower()
    return hashlib.sha256(f"{channel}:{normalised}".encode()).hexdigest()
