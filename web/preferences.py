"""Unsubscribe (page + RFC 8058 one-click), the preference centre at the same token, double opt-in confirmation."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response

from contacts.consent import CHANNELS, Proof
from contacts.preferences import confirm_consent, load_preferences, save_preferences, unsubscribe
from core import clock
from core.db import session_scope
from core.links import read_link_token
from core.models import Contact
from core.signing import BadToken
from web.body import client_ip, read_limited
from web.i18n import pick_language, translator
from web.render import message_page, page
from web.state import AppState, get_state

router = APIRouter(tags=["preferences"])
FORM_LIMIT = 16_384


def _payload(state: AppState, kind: str, token: str) -> dict[str, Any] | None:
    try:
        payload = read_link_token(state.settings, kind, token)
        int(payload["c"])
    except (BadToken, KeyError, TypeError, ValueError):
        return None
    return payload


def _language(state: AppState, request: Request, contact: Contact | None) -> str:
    return pick_language(contact.language if contact else None, request.headers.get("accept-language"),
                         state.settings.default_language)


def _invalid(state: AppState, request: Request) -> Response:
    return message_page(state, _language(state, request, None), "invalid_link_title", "invalid_link_text",
                        status=404)


def _proof(request: Request, source: str) -> Proof:
    return Proof(source=source, ip=client_ip(request), user_agent=(request.headers.get("user-agent") or "")[:500],
                 occurred_at=clock.now())


def _live_contact(session: Any, contact_id: int) -> Contact | None:
    contact = session.get(Contact, contact_id)
    return None if contact is None or contact.erased_at is not None else contact


@router.get("/u/{token}", include_in_schema=False)
def unsubscribe_page(token: str, request: Request, state: AppState = Depends(get_state)) -> Response:
    """The unsubscribe button and the preference centre (viewing changes nothing: link scanners are harmless)."""
    payload = _payload(state, "unsubscribe", token)
    if payload is None:
        return _invalid(state, request)
    with session_scope(state.engine) as session:
        contact = _live_contact(session, int(payload["c"]))
        if contact is None:
            return _invalid(state, request)
        lang = _language(state, request, contact)
        prefs = load_preferences(session, contact, state.settings.preference_topics, state.settings.default_language)
    return page(state, "preferences.html", lang, title=translator(lang)("unsubscribe_title"), prefs=prefs,
                action=f"/u/{token}", notice=None)


@router.post("/u/{token}", include_in_schema=False)
async def unsubscribe_post(token: str, request: Request, state: AppState = Depends(get_state)) -> Response:
    """RFC 8058 one-click (`List-Unsubscribe=One-Click`, no confirmation) or a preference-centre action."""
    payload = _payload(state, "unsubscribe", token)
    if payload is None:
        return _invalid(state, request)
    form = await _form_fields(request)
    one_click = form.get("List-Unsubscribe") == ["One-Click"]
    action = "unsubscribe" if one_click else (form.get("action") or ["unsubscribe"])[0]
    if action not in ("unsubscribe", "unsubscribe_all", "save"):
        raise HTTPException(400, "unknown action")
    source = "one-click" if one_click else ("preference-centre" if action == "save" else "unsubscribe-page")
    result = await run_in_threadpool(_apply, state, int(payload["c"]), payload.get("m"), action, form,
                                     _proof(request, source))
    if result is None:
        return _invalid(state, request)
    if one_click:
        return PlainTextResponse("unsubscribed")
    lang = result
    keys = {"unsubscribe": ("unsubscribed_title", "unsubscribed_text"),
            "unsubscribe_all": ("unsubscribed_title", "unsubscribed_all_text"),
            "save": ("saved_title", "saved_text")}[action]
    return message_page(state, lang, *keys, back_url=f"/u/{token}")


async def _form_fields(request: Request) -> dict[str, list[str]]:
    """The posted fields, urlencoded or multipart (RFC 8058 allows both for one-click)."""
    body = await read_limited(request, FORM_LIMIT)
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        try:
            data = await request.form()
        except Exception as exc:  # noqa: BLE001 - any multipart parsing failure is the client's
            raise HTTPException(400, "malformed multipart body") from exc
        fields: dict[str, list[str]] = {}
        for name, value in data.multi_items():
            if isinstance(value, str):
                fields.setdefault(name, []).append(value)
        return fields
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def _apply(state: AppState, contact_id: int, message_id: Any, action: str, form: dict[str, list[str]],
           proof: Proof) -> str | None:
    """Apply the action in one transaction; returns the contact's page language (None: no such contact)."""
    with session_scope(state.engine) as session:
        contact = _live_contact(session, contact_id)
        if contact is None:
            return None
        lang = pick_language(contact.language, None, state.settings.default_language)
        topics = state.settings.preference_topics
        if action == "save":
            shown = load_preferences(session, contact, topics, state.settings.default_language)
            channels = {channel: channel in form.get("channel", []) for channel in shown.channels}
            chosen = {topic: topic in form.get("topic", []) for topic in topics}
            save_preferences(session, contact, proof, channels=channels, topics=chosen,
                             pause_weeks=_weeks(form.get("pause_weeks", ["0"])[0]))
        else:
            unsubscribe(session, contact.id, proof, message_id=str(message_id) if message_id else None,
                        everything=action == "unsubscribe_all", topics=topics)
        return lang


def _weeks(raw: str) -> int:
    try:
        return max(0, min(int(raw), 52))
    except ValueError:
        return 0


@router.get("/c/{token}", include_in_schema=False)
def confirm(token: str, request: Request, state: AppState = Depends(get_state)) -> Response:
    """Double opt-in: the pending consent becomes granted, with this click as proof."""
    payload = _payload(state, "confirm", token)
    channel = str(payload.get("ch", "email")) if payload else ""
    if payload is None or channel not in CHANNELS:
        return _invalid(state, request)
    with session_scope(state.engine) as session:
        contact = _live_contact(session, int(payload["c"]))
        if contact is None:
            return _invalid(state, request)
        lang = _language(state, request, contact)
        outcome = confirm_consent(session, contact.id, channel, _proof(request, "double-opt-in"),
                                  topic=str(payload.get("t") or "marketing"))
    text = {"confirmed": "confirmed_text", "already": "already_text", "not_pending": "not_pending_text"}[outcome]
    return message_page(state, lang, "confirmed_title" if outcome != "not_pending" else "invalid_link_title", text)
