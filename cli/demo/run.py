"""`relance demo`: builds a realistic demo company in the working directory and runs every capability on it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from cli.common import console, engine, settings
from cli.demo import campaigns, contacts, feedback, history, journeys, reports, scoring, segments, surveys, templates
from cli.demo.context import DemoContext
from core.migrate import upgrade

# The demo's steps, in order; each takes the DemoContext. A capability that lands adds its step here.
STEPS: tuple[Callable[[DemoContext], object], ...] = (
    contacts.run,  # demo company + messy CSV import
    history.run,  # the old system's events, under their own --source
    segments.run,  # segments, RFM, clusters
    scoring.run,  # rule + predictive scoring, lift chart
    templates.run,  # library rendered to the outbox
    campaigns.run,  # multichannel campaign with A/B, holdout, fallback
    feedback.run,  # responses through the signed endpoints
    journeys.run,  # two nurturing journeys, time moved through them
    surveys.run,  # NPS survey through a campaign, answered on the real pages
    reports.run,  # ROI table + dashboard command
)


def register(app: typer.Typer) -> None:
    """Add the demo command to the main app."""

    @app.command()
    def demo(seed: int = typer.Option(42, help="Random seed for the generated company.")) -> None:
        """Run the end-to-end demo on the embedded default (SQLite + outbox connectors)."""
        console.rule("[bold]Relance demo")
        upgrade(engine())
        context = DemoContext(engine=engine(), settings=settings(), console=console, workdir=Path.cwd(), seed=seed)
        for step in STEPS:
            step(context)
        console.rule("[bold green]Demo finished")
