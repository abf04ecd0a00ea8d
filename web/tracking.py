"""Open pixel and click redirect: signed tokens only, hits stored for the applier, never an open redirect."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from core import clock
from core.links import read_link_token
from core.signing import BadToken
from feedback.apply import store_request
from web.body import client_ip
from web.render import message_page
from web.state import AppState, get_state

router = APIRouter(tags=["tracking"])

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate, private", "Pragma": "no-cache"}


def _hit(request: Request, message_id: str, url: str | None = None) -> str:
    data = {"m": message_id, "ua": (request.headers.get("user-agent") or "")[:500], "ip": client_ip(request),
            "at": clock.now().isoformat()}
    if url is not None:
        data["url"] = url
    return json.dumps(data, separators=(",", ":"))


@router.get("/t/o/{token}", include_in_schema=False)
async def open_pixel(token: str, request: Request, state: AppState = Depends(get_state)) -> Response:
    """A 1x1 transparent GIF; a valid token records `email.opened` (machine agents are flagged when applied)."""
    try:
        payload = read_link_token(state.settings, "open", token)
        message_id = str(payload["m"])
    except (BadToken, KeyError):
        return Response(status_code=404, headers=NO_STORE)
    await run_in_threadpool(store_request, state.engine, "open", _hit(request, message_id), {})
    state.applier.notify()
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


def safe_destination(url: object) -> str | None:
    """The destination when it is an absolute http(s) URL (a signed token could still carry junk)."""
    if not isinstance(url, str) or any(ch in url for ch in "\r\n\t"):
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


@router.get("/t/c/{token}", include_in_schema=False)
async def click(token: str, request: Request, state: AppState = Depends(get_state)) -> Response:
    """302 to the destination signed into the message's link, nowhere else; records `email.clicked`."""
    try:
        payload = read_link_token(state.settings, "click", token)
        message_id, destination = str(payload["m"]), safe_destination(payload.get("url"))
    except (BadToken, KeyError):
        destination = None
    if destination is None:
        return message_page(state, "fr", "invalid_link_title", "invalid_link_text", status=404)
    await run_in_threadpool(store_request, state.engine, "click", _hit(request, message_id, destination), {})
    state.applier.notify()
    return RedirectResponse(destination, status_code=302, headers=NO_STORE)
