"""relance serve: the web app (webhooks, tracking, unsubscribe, forms, API)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this command to the main app."""
