"""The app built from the environment's settings, for `uvicorn web.main:app` and multi-worker serving."""

from __future__ import annotations

from core.settings import get_settings
from web.app import create_app

app = create_app(get_settings())
