"""`relance dashboard`: starts the Streamlit dashboard on the configured database."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from sqlalchemy import func, select

from cli.common import console, engine, err_console, settings
from core.db import session_scope
from core.migrate import upgrade
from core.models import User

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"


def streamlit_command(host: str, port: int) -> list[str]:
    """The `streamlit run` command line for the dashboard (headless, no usage statistics, no file watcher)."""
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.address", host, "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
            "--client.toolbarMode", "minimal", "--theme.primaryColor", "#1e3a5f"]


def register(app: typer.Typer) -> None:
    """Add this command to the main app."""

    @app.command()
    def dashboard(
        host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 for every interface)."),
        port: int = typer.Option(8501, help="Port to listen on."),
    ) -> None:
        """Open the ROI dashboard (Streamlit) on http://HOST:PORT; sign in with a `relance user add` account."""
        upgrade(engine())
        with session_scope(engine()) as session:
            users = int(session.scalar(select(func.count()).select_from(User)) or 0)
        if not users:
            err_console.print("[yellow]No dashboard user yet: create one with "
                              "`relance user add NAME --role admin` to sign in.[/]")
        environment = {**os.environ, "RELANCE_DATABASE_URL": settings().database_url,
                       "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
        console.print(f"Relance dashboard on [bold]http://{host}:{port}[/] ({settings().database_url}); Ctrl-C stops.")
        sys.stdout.flush()
        os.execve(sys.executable, streamlit_command(host, port), environment)
