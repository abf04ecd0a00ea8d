"""`relance reports` commands: rOI, funnels and the PDF report."""

from __future__ import annotations

import typer

app = typer.Typer(help="ROI, funnels and the PDF report.", no_args_is_help=True)
