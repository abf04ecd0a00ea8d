"""`relance feedback` commands: apply provider feedback to contact records."""

from __future__ import annotations

import typer

app = typer.Typer(help="Apply provider feedback to contact records.", no_args_is_help=True)
