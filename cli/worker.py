"""relance worker: serves the Prefect deployments with their schedules."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this command to the main app."""
