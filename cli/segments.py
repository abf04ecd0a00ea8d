"""`relance segments` commands: define, count, refresh and explain segments."""

from __future__ import annotations

import typer

app = typer.Typer(help="Define, count, refresh and explain segments.", no_args_is_help=True)
