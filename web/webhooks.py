"""Provider webhooks: verify, store raw, acknowledge fast (feedback.apply applies them later)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from connectors import sendgrid_events, twilio_events
from core import clock
from core.db import session_scope
from core.models import Contact
from feedback.apply import store_request
from web.body import read_limited
from web.state import AppState, get_state

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.post("/sendgrid")
async def sendgrid_webhook(request: Request, state: AppState = Depends(get_state)) -> Response:
    """SendGrid Event Webhook: ECDSA over timestamp + raw body, replay window, JSON array stored raw."""
    key = state.settings.sendgrid_webhook_public_key
    if key is None:
        raise HTTPException(403, "SendGrid webhook verification key not configured")
    body = await read_limited(request, state.settings.webhook_max_body_bytes)
    try:
        sendgrid_events.verify_signature(
            body, request.headers.get(sendgrid_events.SIGNATURE_HEADER),
            request.headers.get(sendgrid_events.TIMESTAMP_HEADER), key.get_secret_value(),
            now=clock.now(), window=state.settings.webhook_replay_window)
        events = sendgrid_events.parse_body(body)
    except sendgrid_events.WebhookRejected as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    headers = {"timestamp": request.headers.get(sendgrid_events.TIMESTAMP_HEADER)}
    await run_in_threadpool(store_request, state.engine, "sendgrid", body.decode("utf-8"), headers)
    state.applier.notify()
    return JSONResponse({"accepted": len(events)})


async def _verified_twilio_form(request: Request, state: AppState) -> twilio_events.FormParams:
    token = state.settings.twilio_auth_token
    if token is None:
        raise HTTPException(403, "Twilio auth token not configured")
    body = await read_limited(request, state.settings.webhook_max_body_bytes)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(400, "body is not UTF-8") from exc
    params = twilio_events.FormParams.from_body(text)
    url = twilio_events.public_url(state.settings.public_url, request.url.path, request.url.query)
    signature = request.headers.get(twilio_events.SIGNATURE_HEADER)
    if not twilio_events.verify_signature(url, params, signature, token.get_secret_value()):
        raise HTTPException(403, "X-Twilio-Signature does not verify")
    request.state.raw_text = text
    return params


def _store(state: AppState, provider: str, text: str, headers: dict[str, Any]) -> None:
    store_request(state.engine, provider, text, headers)


@router.post("/twilio/status")
async def twilio_status(request: Request, state: AppState = Depends(get_state)) -> Response:
    """Twilio status callback (delivered / undelivered / failed ...), applied through the message state machine."""
    params = await _verified_twilio_form(request, state)
    if not (params.first("MessageSid") or params.first("SmsSid")):
        raise HTTPException(400, "MessageSid missing")
    await run_in_threadpool(_store, state, "twilio-status", request.state.raw_text, {"query": request.url.query})
    state.applier.notify()
    return Response(status_code=204)


@router.post("/twilio/inbound")
async def twilio_inbound(request: Request, state: AppState = Depends(get_state)) -> Response:
    """An SMS to our number: stored as `sms.received`; STOP/START act when applied; HELP answers at once."""
    params = await _verified_twilio_form(request, state)
    if not params.first("From"):
        raise HTTPException(400, "From missing")
    await run_in_threadpool(_store, state, "twilio-inbound", request.state.raw_text, {"query": request.url.query})
    state.applier.notify()
    reply = None
    if twilio_events.keyword(params.first("Body")) == "help":
        language = await run_in_threadpool(_language_of, state, params.first("From") or "")
        reply = help_text(state, language)
    return Response(twilio_events.twiml_reply(reply), media_type="application/xml")


def _language_of(state: AppState, phone: str) -> str:
    """The language of the contact with this number (the default language for a stranger)."""
    with session_scope(state.engine) as session:
        language = session.scalar(select(Contact.language).where(Contact.phone == phone, Contact.language.is_not(None))
                                  .order_by(Contact.id).limit(1))
    return language or state.settings.default_language


def help_text(state: AppState, language: str) -> str:
    """The HELP answer in the contact's language: who we are and how to stop."""
    sender = state.settings.postal_address
    if language.lower().startswith("fr"):
        return f"{sender}. Messages marketing : répondez STOP pour ne plus en recevoir, START pour reprendre."
    return f"{sender}. Marketing messages: reply STOP to unsubscribe, START to resubscribe."
