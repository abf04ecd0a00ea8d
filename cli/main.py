"""The `relance` entry point: registers every command group."""

from __future__ import annotations

import typer
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from cli import (
    campaigns,
    contacts,
    dashboard_cmd,
    feedback,
    forms,
    imports,
    journeys,
    reports,
    scoring,
    segments,
    serve,
    surveys,
    templates,
    users,
    worker,
)
from cli.common import console, engine, err_console, settings
from cli.demo import run as demo
from core.migrate import alembic_config, current_revision, upgrade

app = typer.Typer(
    name="relance",
    help="Relance — marketing automation: contacts, segments, scoring, campaigns, journeys, surveys, feedback and ROI.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(imports.app, name="import")
app.add_typer(contacts.app, name="contacts")
app.add_typer(segments.app, name="segment")
app.add_typer(templates.app, name="template")
app.add_typer(campaigns.app, name="campaign")
app.add_typer(journeys.app, name="journey")
app.add_typer(scoring.app, name="score")
app.add_typer(reports.app, name="report")
app.add_typer(feedback.app, name="feedback")
app.add_typer(users.app, name="user")
app.add_typer(forms.app, name="form")
app.add_typer(surveys.app, name="survey")
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
    """Console-script entry point: a database that is missing, unreachable or behind the code is a one-line error
    saying what to do, not a traceback."""
    try:
        app()
    except DBAPIError as exc:
        hint = database_hint(engine(), exc)
        if hint is None:
            raise
        err_console.print(f"[bold red]Error:[/] {hint}")
        raise SystemExit(1) from None


def database_hint(bound: Engine, exc: DBAPIError) -> str | None:
    """What the user should do about `exc`, when it comes from the database's state rather than a bug."""
    where = bound.url.render_as_string(hide_password=True)
    try:
        at = current_revision(bound)
    except DBAPIError as unreachable:
        if exc.connection_invalidated or isinstance(exc, OperationalError):
            return f"cannot use the database at {where}: {str(unreachable.orig).strip().splitlines()[0]}"
        return None
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if at is None:
        return f"the database at {where} has no Relance schema yet: run `relance init` first."
    if at != head:
        return f"the database at {where} is at schema revision {at}, this version needs {head}: run `relance init`."
    return None
