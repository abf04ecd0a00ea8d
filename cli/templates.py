"""`relance templates` commands: check and preview message templates."""

from __future__ import annotations

import typer

app = typer.Typer(help="Check and preview message templates.", no_args_is_help=True)
