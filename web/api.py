"""The JSON API: conversions (revenue from the shop or CRM) and the health check."""

from __future__ import annotations

import hmac
from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Header, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from core.db import session_scope
from feedback.apply import pending_count
from feedback.conversions import ConversionInput, ConversionResult, record_conversion
from web.state import AppState, get_state

router = APIRouter(tags=["api"])


class ConversionIn(BaseModel):
    """A conversion to record; name the contact by `contact_id`, `email`, `phone` or `external_id`."""

    model_config = ConfigDict(extra="forbid")
    external_ref: str = Field(min_length=1, max_length=255, description="Your order/deal id: makes retries safe.")
    amount: Decimal = Field(max_digits=14, decimal_places=2, allow_inf_nan=False)
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")
    occurred_at: datetime | None = None
    kind: str = Field("purchase", min_length=1, max_length=64)
    contact_id: int | None = Field(None, ge=1, le=2**62)
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=32)
    external_id: str | None = Field(None, max_length=255)
    campaign_id: int | None = Field(None, ge=1, le=2**62)
    message_id: str | None = Field(None, max_length=36)
    properties: dict[str, Any] = Field(default_factory=dict)


def require_api_key(state: AppState = Depends(get_state), x_api_key: str | None = Header(None),
                    authorization: str | None = Header(None)) -> None:
    """The `X-API-Key` header (or `Authorization: Bearer KEY`) must match RELANCE_API_KEY."""
    expected = state.settings.api_key
    given = x_api_key or (authorization[7:] if authorization and authorization.lower().startswith("bearer ") else None)
    if expected is None or not given or not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise HTTPException(401 if not given else 403, "a valid API key is required",
                            headers={"WWW-Authenticate": "Bearer"} if not given else None)


@router.post("/api/conversions", dependencies=[Depends(require_api_key)], status_code=201)
async def create_conversion(data: ConversionIn, state: AppState = Depends(get_state)) -> JSONResponse:
    """Record revenue for a contact; the same `external_ref` again returns the stored conversion (200)."""
    result = await run_in_threadpool(_record, state, data)
    body = {"id": result.id, "created": result.created, "contact_id": result.contact_id}
    return JSONResponse(body, status_code=201 if result.created else 200)


def _record(state: AppState, data: ConversionIn) -> ConversionResult:
    with session_scope(state.engine) as session:
        return record_conversion(session, ConversionInput(**data.model_dump()), region=state.settings.default_region)


@router.get("/health")
def health(state: AppState = Depends(get_state)) -> JSONResponse:
    """Liveness and readiness: the database answers; how much feedback waits; the applier runs."""
    try:
        with session_scope(state.engine) as session:
            session.execute(text("SELECT 1"))
            pending = pending_count(session)
    except Exception as exc:  # noqa: BLE001 - any database failure makes the service unhealthy
        return JSONResponse({"status": "error", "database": str(exc)[:200]}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok", "pending_feedback": pending,
                         "applier": state.applier.running})
