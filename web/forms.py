"""Lead-capture forms: hosted page, POST from any website (HTML or fetch), thank-you page."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response

from contacts.forms import (
    UTM_FIELDS,
    FormDefinition,
    LeadResult,
    Submission,
    Visit,
    capture_lead,
    confirmation_message,
    text_for,
    validate,
)
from core import clock
from core.db import session_scope
from web.body import client_ip, read_limited
from web.i18n import pick_language, translator
from web.render import form_html, page
from web.state import AppState, get_state

router = APIRouter(prefix="/forms", tags=["forms"])
log = logging.getLogger("relance.web.forms")
FORM_LIMIT = 65_536


def _form(state: AppState, name: str) -> FormDefinition:
    form = state.forms.get(name)
    if form is None:
        raise HTTPException(404, f"no form named {name!r}")
    return form


def _language(request: Request, form: FormDefinition, state: AppState) -> str:
    return pick_language(request.query_params.get("lang") or form.language, request.headers.get("accept-language"),
                         state.settings.default_language)


@router.get("/{name}", include_in_schema=False)
def hosted_form(name: str, request: Request, state: AppState = Depends(get_state)) -> Response:
    """The form on a page of its own (also the reference for the snippet)."""
    form = _form(state, name)
    lang = _language(request, form, state)
    return _form_page(state, form, lang, {}, {}, 200)


def _form_page(state: AppState, form: FormDefinition, lang: str, values: dict[str, str], errors: dict[str, str],
               status: int) -> Response:
    labels = {spec.name: text_for(spec.label, lang) or spec.name for spec in form.fields}
    labels["consent"] = "Consentement" if lang == "fr" else "Consent"
    return page(state, "form.html", lang, status=status, title=text_for(form.title, lang) or form.name,
                description=text_for(form.description, lang), errors=errors, labels=labels,
                form_html=form_html(form, lang, f"/forms/{form.name}", values=values, errors=errors))


@router.get("/{name}/thanks", include_in_schema=False)
def thanks(name: str, request: Request, confirm: int = 0, state: AppState = Depends(get_state)) -> Response:
    form = _form(state, name)
    lang = _language(request, form, state)
    t = translator(lang)
    lines = [t("thanks_text")] + ([t("thanks_confirm")] if confirm else [])
    return page(state, "message.html", lang, title=t("thanks_title"), lines=lines, back_url=None)


async def _values(request: Request) -> dict[str, str]:
    body = await read_limited(request, FORM_LIMIT)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            data = json.loads(body or b"{}")
        except ValueError as exc:
            raise HTTPException(400, "body is not valid JSON") from exc
        if not isinstance(data, dict):
            raise HTTPException(400, "JSON body must be an object")
        return {str(k): "" if v is None else str(v) for k, v in data.items() if not isinstance(v, dict | list)}
    if kind == "multipart/form-data":
        try:
            form = await request.form()
        except Exception as exc:  # noqa: BLE001 - any multipart parsing failure is the client's
            raise HTTPException(400, "malformed multipart body") from exc
        return {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(400, "body is not UTF-8") from exc
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    kind = request.headers.get("content-type", "")
    return ("application/json" in accept and "text/html" not in accept) or kind.startswith("application/json") \
        or request.headers.get("x-requested-with", "").lower() in ("fetch", "xmlhttprequest")


def _visit(request: Request, values: dict[str, str]) -> Visit:
    referer = request.headers.get("referer")
    referer_query = parse_qs(urlsplit(referer).query) if referer else {}
    utm = {name: (values.get(name) or (referer_query.get(name) or [""])[0])[:255] for name in UTM_FIELDS}
    return Visit(ip=client_ip(request), user_agent=(request.headers.get("user-agent") or "")[:500],
                 referrer=(values.get("referrer") or referer or None), utm={k: v for k, v in utm.items() if v},
                 at=clock.now(), page=(values.get("page") or referer or None))


@router.post("/{name}")
async def submit(name: str, request: Request, background: BackgroundTasks,
                 state: AppState = Depends(get_state)) -> Response:
    """Validate, dedup/merge into contacts, record consent with proof; redirect to thank-you or answer JSON."""
    form = _form(state, name)
    lang = _language(request, form, state)
    wants_json = _wants_json(request)
    if not state.limiter.allow(client_ip(request)):
        message = translator(lang)("too_many")
        if wants_json:
            return JSONResponse({"ok": False, "error": message}, status_code=429, headers={"Retry-After": "60"})
        return page(state, "message.html", lang, status=429, title=message, lines=[], back_url=None)
    values = await _values(request)
    if values.get(form.honeypot):  # a bot filled the invisible field: look successful, keep nothing
        return _success(form, lang, wants_json, LeadResult(0, False, None, False))
    submission = validate(form, values, region=state.settings.default_region, language=lang)
    if submission.errors:
        if wants_json:
            return JSONResponse({"ok": False, "errors": submission.errors}, status_code=422)
        return _form_page(state, form, lang, values, submission.errors, 422)
    result = await run_in_threadpool(_capture, state, form, submission, _visit(request, values))
    if result.needs_confirmation and submission.fields.get("email"):
        background.add_task(_send_confirmation, state, form, result.contact_id, submission.fields["email"], lang)
    return _success(form, lang, wants_json, result)


def _capture(state: AppState, form: FormDefinition, submission: Submission, visit: Visit) -> LeadResult:
    with session_scope(state.engine) as session:
        return capture_lead(session, form, submission, visit)


def _success(form: FormDefinition, lang: str, wants_json: bool, result: LeadResult) -> Response:
    t = translator(lang)
    if wants_json:
        message = t("thanks_confirm") if result.needs_confirmation else t("thanks_text")
        return JSONResponse({"ok": True, "message": message, "confirmation_sent": result.needs_confirmation})
    target = form.thank_you_url or f"/forms/{form.name}/thanks?lang={lang}&confirm={int(result.needs_confirmation)}"
    return RedirectResponse(target, status_code=303)


def _send_confirmation(state: AppState, form: FormDefinition, contact_id: int, email: str, lang: str) -> None:
    """Send the double opt-in email through the configured email connector (after the response)."""
    backend = state.email_backend
    try:
        if backend is None:
            from connectors.registry import get_backend

            backend = state.email_backend = get_backend("email", state.settings)
        results = backend.send([confirmation_message(state.settings, form, contact_id, email, lang)])
        log.info("double opt-in email for contact %s: %s", contact_id, results[0].outcome)
    except Exception:  # noqa: BLE001 - the lead is saved; a failed confirmation email is logged, not fatal
        log.exception("could not send the double opt-in email for contact %s", contact_id)


def form_summary(form: FormDefinition) -> dict[str, Any]:
    """A form as listed by the CLI."""
    return {"name": form.name, "fields": [spec.name for spec in form.fields],
            "double_opt_in": bool(form.consent and form.consent.double_opt_in),
            "thank_you_url": form.thank_you_url}
