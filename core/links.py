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
    "survey": ("/s/", "survey"),  # payload {"i": invitation id (= ledger message id), "c": contact id}
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


def survey_url(settings: Settings, invitation: str, contact_id: int | None) -> str:
    """The signed link of a survey invitation (the same URL templates.tracking.LinkSigner.survey builds)."""
    return link_url(settings, "survey", {"i": invitation, "c": contact_id})


def answer_path(question: str, value: str) -> str:
    """The path, after an invitation's URL, of the one-tap link that answers `question` with `value`."""
    return f"/a/{question}/{value}"


def survey_context(url: str, first_question: dict[str, Any] | None, language: str) -> dict[str, Any]:
    """What templates see as `survey`: `url` (the invitation's signed link) and `first_question` — its text, the
    two end labels of an NPS scale, and its `choices` as one-tap links ({value, label, url}) — or None when the
    survey does not start with a scale."""
    if not first_question:
        return {"url": url, "first_question": None}
    texts: dict[str, str] = first_question["text"]
    lang = language if language in texts else next(iter(texts))
    choices = [{"value": choice["value"], "label": choice["label"].get(lang) or choice["value"],
                "url": url + answer_path(first_question["name"], choice["value"])}
               for choice in first_question["choices"]]
    ends = (first_question.get("ends") or {}).get(lang) or [None, None]
    return {"url": url, "first_question": {"name": first_question["name"], "type": first_question["type"],
                                           "text": texts[lang], "choices": choices, "low": ends[0],
                                           "high": ends[1]}}
