"""`relance contacts` commands: read, search, merge, export and erase contacts."""

from __future__ import annotations

import typer

app = typer.Typer(help="Read, search, merge, export and erase contacts.", no_args_is_help=True)
