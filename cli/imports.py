"""`relance imports` commands: import contacts, events, conversions and returned mail."""

from __future__ import annotations

import typer

app = typer.Typer(help="Import contacts, events, conversions and returned mail.", no_args_is_help=True)
