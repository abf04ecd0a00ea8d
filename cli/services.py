"""Long-running entry points: `relance serve`, `relance worker`, `relance dashboard`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the service commands to the main app."""
