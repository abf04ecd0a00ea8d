"""`relance worker`: serves the Prefect deployments (segment refresh, scoring, feedback, due campaigns, journeys,
reports) with their schedules; on the embedded default it first starts a local Prefect API server."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from cli.common import console, settings


def register(app: typer.Typer) -> None:
    """Add this command to the main app."""

    @app.command()
    def worker(
        api_url: str = typer.Option(None, "--api-url", envvar="PREFECT_API_URL",
                                    help="A Prefect API server to use (default: start a local one)."),
        home: Path = typer.Option(Path(".prefect"), "--prefect-home",
                                  help="Where the local Prefect server keeps its state."),
        limit: int = typer.Option(4, "--limit", help="Flow runs this worker executes at once."),
        scheduler_seconds: float = typer.Option(10.0, "--scheduler-seconds",
                                                help="How often the local server creates scheduled runs."),
    ) -> None:
        """Run the scheduled flows until interrupted. Start several (on several machines, against one Prefect
        server and one PostgreSQL database) to share the work: campaign batches are claimed with SKIP LOCKED."""
        from prefect import serve
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from connectors.registry import check_channels
        from flows.deployments import deployments
        from flows.local_server import local_prefect_server

        current = settings()
        check_channels(current)  # a misconfigured channel fails here, naming it, not at the first send
        built = deployments(current)
        if api_url:
            console.print(f"Serving {len(built)} deployments against {api_url}.")
            with temporary_settings(updates={PREFECT_API_URL: api_url}):
                serve(*built, limit=limit, print_starting_message=False)
            return
        console.print(f"Starting a local Prefect server (state in {home.resolve()})…")
        with local_prefect_server(home.resolve(), scheduler_seconds=scheduler_seconds) as url:
            os.environ["PREFECT_API_URL"] = url  # flow-run subprocesses inherit it
            console.print(f"Prefect API at {url}; serving {len(built)} deployments: "
                          + ", ".join(deployment.name for deployment in built) + ". Ctrl-C stops.")
            with temporary_settings(updates={PREFECT_API_URL: url}):
                serve(*built, limit=limit, print_starting_message=False)
