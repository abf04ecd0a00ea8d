"""`relance form` commands: lead-capture form snippets."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from cli.common import console, fail, print_json, settings
from contacts.forms import FormDefinition, FormError, load_forms

app = typer.Typer(help="Lead-capture forms for any website.", no_args_is_help=True)

DIR_OPTION = typer.Option(None, "--dir", exists=True, file_okay=False,
                          help="Also read forms from this directory (default: RELANCE_FORMS_DIR, ./forms).")


def _forms(directory: Path | None) -> dict[str, FormDefinition]:
    try:
        return load_forms(settings(), (directory,) if directory else ())
    except FormError as exc:
        raise fail(str(exc)) from exc


@app.command("snippet")
def snippet_command(
    name: str = typer.Argument(..., help="The form's name."),
    lang: str | None = typer.Option(None, "--lang", help="fr or en (default: the form's language)."),
    directory: Path | None = DIR_OPTION,
) -> None:
    """Print a plain HTML snippet to paste into any website: the form, its honeypot and a UTM/referrer filler."""
    from web.render import snippet

    forms = _forms(directory)
    if name not in forms:
        known = ", ".join(sorted(forms)) or "none"
        raise fail(f"no form named {name!r} (known: {known})")
    typer.echo(snippet(forms[name], settings().public_url, lang))


@app.command("list")
def list_command(directory: Path | None = DIR_OPTION,
                 json_output: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """The forms defined in YAML files and settings."""
    from web.forms import form_summary

    rows = [form_summary(form) for form in _forms(directory).values()]
    if json_output:
        print_json(rows)
        return
    table = Table(title="Lead forms")
    for column in ("name", "fields", "double opt-in", "thank-you URL"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], ", ".join(row["fields"]), "yes" if row["double_opt_in"] else "no",
                      row["thank_you_url"] or "(built-in page)")
    console.print(table)
