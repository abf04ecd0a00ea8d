"""`relance demo`: builds a realistic demo company in the working directory and runs every capability."""

from __future__ import annotations

import importlib
from pathlib import Path

import typer

from cli.common import console, engine, settings
from core.demo import DemoContext
from core.migrate import upgrade

# Each step is "package.module:function" taking a DemoContext, run in this order. Each capability
# uncomments (or adds) its own line when it lands.
STEPS: list[str] = [
    "contacts.demo:run",  # demo company + messy CSV import (issue 2)
    "contacts.demo_history:run",  # the old system's events, under their own --source (issue 2)
    "segments.demo:run",  # segments, RFM, clusters (issue 3)
    "scoring.demo:run",  # rule + predictive scoring, lift chart (issue 7)
    "templates.demo:run",  # library rendered to the outbox (issue 4)
    "campaigns.demo:run",  # multichannel campaign with A/B, holdout, fallback (issue 5)
    "contacts.feedback_demo:run",  # responses through the signed endpoints (issue 6)
    "cli.survey_demo:run",  # NPS survey through a campaign, answered on the real pages (issue 17)
    "reports.demo:run",  # ROI table + dashboard command (issue 8)
]


def register(app: typer.Typer) -> None:
    """Add the demo command to the main app."""

    @app.command()
    def demo(seed: int = typer.Option(42, help="Random seed for the generated company.")) -> None:
        """Run the end-to-end demo on the embedded default (SQLite + outbox connectors)."""
        console.rule("[bold]Relance demo")
        upgrade(engine())
        context = DemoContext(
            engine=engine(), settings=settings(), console=console, workdir=Path.cwd(), seed=seed
        )
        for step in STEPS:
            module_name, _, function_name = step.partition(":")
            getattr(importlib.import_module(module_name), function_name)(context)
        console.rule("[bold green]Demo finished")
