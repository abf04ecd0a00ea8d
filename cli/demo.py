"""`relance demo`: builds a realistic demo company in the working directory and runs every capability."""

from __future__ import annotations

import importlib
from pathlib import Path

import typer

from cli.common import console, engine, settings
from core.demo import DemoContext
from core.migrate import upgrade

# Each step is "package.module:function" taking a DemoContext; later capabilities append theirs.
STEPS: list[str] = []


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
