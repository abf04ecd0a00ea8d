"""The `relance` entry point: registers every command group."""

from __future__ import annotations

import typer

from cli import (
    campaigns,
    contacts,
    dashboard_cmd,
    demo,
    feedback,
    forms,
    imports,
    reports,
    scoring,
    segments,
    serve,
    templates,
    users,
    worker,
)
from cli.common import console, engine, settings
from core.migrate import current_revision, upgrade

app = typer.Typer(
    name="relance",
    help="Relance — marketing automation: contacts, segments, scoring, campaigns, feedback and ROI.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(imports.app, name="import")
app.add_typer(contacts.app, name="contacts")
app.add_typer(segments.app, name="segment")
app.add_typer(templates.app, name="template")
app.add_typer(campaigns.app, name="campaign")
app.add_typer(scoring.app, name="score")
app.add_typer(reports.app, name="report")
app.add_typer(feedback.app, name="feedback")
app.add_typer(users.app, name="user")
app.add_typer(forms.app, name="form")
serve.register(app)
worker.register(app)
dashboard_cmd.register(app)
demo.register(app)


@app.command()
def init() -> None:
    """Create the database schema, or upgrade it to the latest migration."""
    before = current_revision(engine())
    upgrade(engine())
    after = current_revision(engine())
    where = settings().database_url
    if before == after:
        console.print(f"Schema already at revision [bold]{after}[/] ({where}).")
    else:
        console.print(f"Schema upgraded {before or '(empty)'} → [bold]{after}[/] ({where}).")


def main() -> None:
    """Console-script entry point."""
    app()
