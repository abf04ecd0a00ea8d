"""Survey pages (`/s/{token}`): one page per survey page, saved on submit, resumed from the same link; the one-tap
first answer from the email; bad, expired or closed links get a clear 4xx page and store nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from core import clock
from core.db import session_scope
from core.links import read_link_token
from core.signing import BadToken
from feedback.apply import store_request
from feedback.machines import is_machine
from surveys.answering import Saved, save_page, tap
from surveys.records import Visit
from surveys.respondents import LinkProblem, Respondent, open_invitation, page_to_show
from web.body import client_ip, read_limited
from web.i18n import pick_language, translator
from web.render import message_page, page
from web.state import AppState, get_state
from web.survey_view import page_context, thanks_context

router = APIRouter(tags=["surveys"])
FORM_LIMIT = 65_536
NO_STORE = {"Cache-Control": "no-store, private"}
PROBLEM_TEXTS = {"invalid": ("survey_invalid_title", "survey_invalid_text"),
                 "mismatch": ("survey_invalid_title", "survey_invalid_text"),
                 "unknown": ("survey_invalid_title", "survey_invalid_text"),
                 "expired": ("survey_expired_title", "survey_expired_text"),
                 "closed": ("survey_closed_title", "survey_closed_text")}


@dataclass
class Outcome:
    """What a worker-thread call decided: a page to show, a redirect, or a link problem."""

    html: tuple[str, dict[str, Any], int] | None = None  # template, context, status
    redirect: str | None = None
    problem: LinkProblem | None = None
    language: str | None = None


def _payload(state: AppState, token: str) -> dict[str, Any]:
    try:
        return read_link_token(state.settings, "survey", token)
    except BadToken as exc:
        raise LinkProblem("invalid", str(exc)) from exc


def _visit(request: Request) -> Visit:
    return Visit(ip=client_ip(request), user_agent=(request.headers.get("user-agent") or "")[:500])


def _respond(state: AppState, request: Request, outcome: Outcome) -> Response:
    if outcome.problem is not None:
        lang = outcome.language or pick_language(None, request.headers.get("accept-language"),
                                                 state.settings.default_language)
        title, text = PROBLEM_TEXTS[outcome.problem.kind]
        response: Response = message_page(state, lang, title, text, status=outcome.problem.status)
    elif outcome.redirect is not None:
        response = RedirectResponse(outcome.redirect, status_code=303)
    else:
        assert outcome.html is not None
        template, context, status = outcome.html
        response = page(state, template, context.pop("lang"), status=status, **context)
    response.headers.update(NO_STORE)
    return response


def _record_click(state: AppState, request: Request, respondent: Respondent) -> None:
    """Opening the survey from the message counts as a click on it (reports, scoring, journeys see it)."""
    hit = {"m": respondent.invitation.message_id, "ua": (request.headers.get("user-agent") or "")[:500],
           "ip": client_ip(request), "at": clock.now().isoformat(), "url": f"survey:{respondent.survey.name}"}
    store_request(state.engine, "click", json.dumps(hit, separators=(",", ":")), {})
    state.applier.notify()


def _show(state: AppState, token: str, respondent: Respondent, requested: int | None, *,
          errors: dict[str, Any] | None = None, posted: dict[str, list[str]] | None = None, status: int = 200,
          focus: str | None = None, notice: str | None = None, resumed: bool = False) -> Outcome:
    shown = page_to_show(respondent, requested)
    if shown is None:
        return Outcome(html=("survey_thanks.html", thanks_context(respondent), 200), language=respondent.language)
    context = page_context(respondent, shown, action=f"/s/{token}", errors=errors, posted=posted, focus=focus,
                           notice=notice, resumed=resumed)
    return Outcome(html=("survey_page.html", context, status), language=respondent.language)


def _requested_page(raw: str | None) -> int | None:
    return int(raw) - 1 if raw and raw.isdigit() and 0 < int(raw) < 1000 else None


@router.get("/s/{token}", include_in_schema=False)
async def survey_page(token: str, request: Request, state: AppState = Depends(get_state)) -> Response:
    """The page where the person stopped (or the one asked for with ?page=N, once reached)."""
    requested = _requested_page(request.query_params.get("page"))
    accept = request.headers.get("accept-language")
    tapped = request.query_params.get("from") == "tap"

    def work() -> Outcome:
        with session_scope(state.engine) as session:
            try:
                respondent = open_invitation(session, state.settings, _payload(state, token), accept)
            except LinkProblem as problem:
                return Outcome(problem=problem)
            if requested is None:
                _record_click(state, request, respondent)
            notice = translator(respondent.language)("survey_tapped") if tapped else None
            return _show(state, token, respondent, requested, notice=notice, resumed=requested is None)

    return _respond(state, request, await run_in_threadpool(work))


@router.post("/s/{token}", include_in_schema=False)
async def survey_submit(token: str, request: Request, state: AppState = Depends(get_state)) -> Response:
    """Save one page: checked server-side first; a bad post gets the page back with its errors (422)."""
    body = await read_limited(request, FORM_LIMIT)
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as exc:
        raise HTTPException(400, "body is not UTF-8") from exc
    page_index = _requested_page((form.get("page") or [""])[0])
    visit = _visit(request)

    def work() -> Outcome:
        with session_scope(state.engine) as session:
            try:
                respondent = open_invitation(session, state.settings, _payload(state, token))
                if page_index is None:
                    raise LinkProblem("invalid", "the form names no page")
                saved = save_page(session, state.settings, respondent, page_index, form, visit)
            except LinkProblem as problem:
                session.rollback()
                return Outcome(problem=problem)
            if not saved.ok:
                session.rollback()
                return _show(state, token, respondent, page_index, errors=saved.errors, posted=form, status=422)
            return Outcome(redirect=_next_url(token, saved))

    return _respond(state, request, await run_in_threadpool(work))


def _next_url(token: str, saved: Saved, *, tapped: bool = False) -> str:
    if saved.completed or saved.next_page is None:
        return f"/s/{token}"
    anchor = f"#q-{saved.focus}" if saved.focus else ""
    return f"/s/{token}?page={saved.next_page + 1}{'&from=tap' if tapped else ''}{anchor}"


@router.get("/s/{token}/a/{question}/{value}", include_in_schema=False)
async def survey_tap(token: str, question: str, value: str, request: Request,
                     state: AppState = Depends(get_state)) -> Response:
    """The first question answered from the email: saved, then the survey at the next question. A link scanner
    (a machine's user agent) saves nothing: it gets the page with that answer preselected."""
    visit = _visit(request)
    machine = is_machine(visit.user_agent)

    def work() -> Outcome:
        with session_scope(state.engine) as session:
            try:
                respondent = open_invitation(session, state.settings, _payload(state, token))
                if machine:
                    _record_click(state, request, respondent)
                    return _show(state, token, respondent, 0, posted={f"q.{question}": [value]},
                                 notice=translator(respondent.language)("survey_preselected"))
                saved = tap(session, state.settings, respondent, question, value, visit)
            except LinkProblem as problem:
                session.rollback()
                return Outcome(problem=problem)
        _record_click(state, request, respondent)
        return Outcome(redirect=_next_url(token, saved, tapped=True))

    return _respond(state, request, await run_in_threadpool(work))
