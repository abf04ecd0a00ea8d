"""`relance form` commands: lead-capture form snippets."""

from __future__ import annotations

import typer

app = typer.Typer(help="Lead-capture forms for any website.", no_args_is_help=True)
