"""Public links carried by messages: paths and signed tokens shared by templates/ (writes) and web/ (reads)."""

from __future__ import annotations

from typing import Any

from core.settings import Settings
from core.signing import sign, unsign

# kind -> (path prefix, signing purpose)
LINKS: dict[str, tuple[str, str]] = {
    "open": ("/t/o/", "open"),  # payload {"m": message_id}
    "click": ("/t/c/", "click"),  # payload {"m": message_id, "url": destination with UTM}
    "unsubscribe": ("/u/", "unsubscribe"),  # payload {"c": contact_id, "m": message_id | None}
    "confirm": ("/c/", "confirm"),  # payload {"c": contact_id, "ch": channel} (double opt-in)
    "survey": ("/s/", "survey"),  # payload {"i": invitation token}
}


def link_token(settings: Settings, kind: str, payload: dict[str, Any]) -> str:
    """The signed token for a link of `kind`."""
    return sign(payload, secret=settings.secret_key.get_secret_value(), purpose=LINKS[kind][1])


def link_url(settings: Settings, kind: str, payload: dict[str, Any]) -> str:
    """The absolute public URL of a link of `kind` carrying `payload`."""
    return f"{settings.public_url.rstrip('/')}{LINKS[kind][0]}{link_token(settings, kind, payload)}"


def read_link_token(settings: Settings, kind: str, token: str) -> dict[str, Any]:
    """The payload of a link token of `kind`; raises core.signing.BadToken when it does not verify."""
    return unsign(token, secret=settings.secret_key.get_secret_value(), purpose=LINKS[kind][1])
