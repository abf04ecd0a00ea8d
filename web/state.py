"""What every route shares: settings, engine, forms, templates, the rate limiter and the feedback applier."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine

from connectors.base import Backend
from contacts.forms import FormDefinition
from core.settings import Settings
from web.applier import Applier
from web.ratelimit import RateLimiter

TEMPLATES = Path(__file__).parent / "templates"


def template_environment() -> Environment:
    """Jinja environment for the public pages (autoescaped)."""
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                       trim_blocks=True, lstrip_blocks=True)


@dataclass
class AppState:
    """Shared by the routes of one app instance."""

    settings: Settings
    engine: Engine
    forms: dict[str, FormDefinition]
    applier: Applier
    limiter: RateLimiter
    templates: Environment = field(default_factory=template_environment)
    email_backend: Backend | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def get_state(request: Request) -> AppState:
    """The AppState of the app serving `request` (a FastAPI dependency)."""
    state: AppState = request.app.state.relance
    return state
