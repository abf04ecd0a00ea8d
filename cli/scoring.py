"""`relance scoring` commands: rule and predictive lead scoring."""

from __future__ import annotations

import typer

app = typer.Typer(help="Rule and predictive lead scoring.", no_args_is_help=True)
