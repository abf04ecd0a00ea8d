"""`relance campaigns` commands: plan, send and follow campaigns."""

from __future__ import annotations

import typer

app = typer.Typer(help="Plan, send and follow campaigns.", no_args_is_help=True)
