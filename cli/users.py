"""`relance users` commands: dashboard users and roles."""

from __future__ import annotations

import typer

app = typer.Typer(help="Dashboard users and roles.", no_args_is_help=True)
