"""The FastAPI app factory: routes per area, shared state, security headers, the background applier."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.middleware.base import RequestResponseEndpoint

from connectors.base import Backend
from contacts.forms import load_forms
from core.db import make_engine
from core.settings import Settings
from web import api, forms, preferences, surveys, tracking, webhooks
from web.applier import Applier
from web.ratelimit import RateLimiter
from web.state import AppState

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                    "X-Frame-Options": "DENY"}


def _apply_batch(engine: Engine) -> int:
    """Stored requests per applier transaction: SQLite has one writer, so webhook inserts wait for the applier's
    transaction; smaller ones keep the acknowledgement latency low. PostgreSQL takes larger batches."""
    return 4 if engine.dialect.name == "sqlite" else 10


def create_app(settings: Settings, *, engine: Engine | None = None, email_backend: Backend | None = None,
               background: bool = True, apply_interval: float = 2.0, extra_form_dirs: tuple[Path, ...] = ()) -> FastAPI:
    """The web app for `settings`. `background=False` leaves stored feedback pending (tests, or a worker applies)."""
    engine = engine or make_engine(settings.database_url)
    state = AppState(settings=settings, engine=engine, forms=load_forms(settings, extra_form_dirs),
                     applier=Applier(engine, settings, interval=apply_interval, limit=_apply_batch(engine)),
                     limiter=RateLimiter(settings.form_rate_limit), email_backend=email_backend)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if background:
            state.applier.start()
        try:
            yield
        finally:
            state.applier.stop()

    app = FastAPI(title="Relance", version="0.1.0", lifespan=lifespan,
                  description="Webhooks, tracking, unsubscribe and preferences, lead forms, survey pages, "
                              "conversions API.")
    app.state.relance = state
    for module in (webhooks, tracking, preferences, forms, surveys, api):
        app.include_router(module.router)
    # Lead forms are posted from other websites (fetch): allow any origin, never credentials.
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST"],
                       allow_headers=["Content-Type", "Accept", "X-Requested-With"], allow_credentials=False)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(part) for part in error["loc"][1:]) or "body", "message": error["msg"]}
                  for error in exc.errors()]
        return JSONResponse({"ok": False, "errors": errors}, status_code=422)

    return app
