"""`relance survey` commands: create (check) a survey from YAML, list, preview its pages, close/reopen, results."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from cli.common import console, fail, print_json, refusing_session, settings
from cli.survey_results import print_results
from surveys.definition import SurveyDefinitionError, SurveyDocument, load_survey
from surveys.export import response_rows
from surveys.results import survey_results
from surveys.service import (
    SurveyNotFound,
    SurveyStateError,
    close_survey,
    create_survey,
    current_version,
    document_of,
    get_survey,
    list_surveys,
    reopen_survey,
)

HELP = (
    "Surveys: NPS, CSAT and questionnaires sent through campaigns, answered on Relance's pages.\n\n"
    "A survey is a YAML file (examples/surveys/*.yaml): name, title and texts per language (fr, en), anonymous, "
    "closes_at, links_valid_for, pages of questions (nps, csat, rating, single, multiple, text, yes_no, matrix) with "
    "`required` and `visible_if` skip logic on earlier pages, and write_back (field, attribute, tag, consent). "
    "A campaign sends it with `survey: NAME` and the survey-invitation template; a segment "
    "{survey: NAME, status: invited} is the reminder audience. Pages are served by `relance serve`."
)
app = typer.Typer(help=escape(HELP), no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Machine-readable output.")


def _session() -> Any:
    """A committed session; a bad document exits 2 naming each path, unknown names and bad states exit 1."""
    return refusing_session(SurveyDefinitionError, "survey", (SurveyNotFound, SurveyStateError, LookupError,
                                                             ValueError))


def _load(path: Path) -> SurveyDocument:
    """The survey in `path`; a bad one exits 2 listing each problem with its path."""
    try:
        return load_survey(path)
    except SurveyDefinitionError as exc:
        lines = "\n".join(f"  {where or '(survey)'}: {why}" for where, why in exc.problems)
        raise fail(f"{path} is not a valid survey:\n{escape(lines)}", code=2) from None


@app.command()
def create(path: Path = typer.Argument(..., help="The survey's YAML file."),
           check: bool = typer.Option(False, "--check", help="Only check the file; store nothing."),
           as_json: bool = JSON) -> None:
    """Check a survey file and store it (a new version when it changed; invitations keep theirs)."""
    document = _load(path)
    if check:
        summary = {"name": document.name, "pages": len(document.pages),
                   "questions": sum(1 for _ in document.questions()), "valid": True}
        print_json(summary) if as_json else console.print(
            f"[green]✓[/] {path} is a valid survey ({summary['pages']} pages, {summary['questions']} questions).")
        return
    with _session() as session:
        saved = create_survey(session, document)
        summary = {"name": saved.survey.name, "version": saved.version.version, "created": saved.created,
                   "new_version": saved.new_version, "anonymous": saved.survey.anonymous,
                   "first_question_in_email": saved.version.first_question is not None}
    if as_json:
        print_json(summary)
        return
    what = "created" if saved.created else ("new version" if saved.new_version else "unchanged")
    console.print(f"Survey [bold]{summary['name']}[/] v{summary['version']}: {what}."
                  + (" Its first question goes in the invitation email as one-tap answers."
                     if summary["first_question_in_email"] else ""))


@app.command("list")
def list_command(as_json: bool = JSON) -> None:
    """Every survey with its version, status and how many were invited, started and completed."""
    with _session() as session:
        rows = list_surveys(session)
    if as_json:
        print_json(rows)
        return
    table = Table("name", "version", "status", "anonymous", "closes", "invited", "responses", "completed")
    for row in rows:
        closes = f"{row['closes_at']:%Y-%m-%d}" if row["closes_at"] else "—"
        table.add_row(row["name"], str(row["version"]), row["status"], "yes" if row["anonymous"] else "no", closes,
                      f"{row['invitations']:,}", f"{row['responses']:,}", f"{row['completed']:,}")
    console.print(table if rows else "No survey yet: `relance survey create examples/surveys/nps-2026.yaml`.")


@app.command()
def preview(name_or_file: str = typer.Argument(..., help="A stored survey's name, or a YAML file."),
            language: str = typer.Option("fr", "--lang", help="fr or en."),
            out: Path = typer.Option(Path("survey-preview"), "--out", help="Folder for the HTML pages.")) -> None:
    """Write each page as a respondent sees it (first visit, nothing answered) to HTML files to open."""
    from web.survey_view import preview_html

    if name_or_file.endswith((".yaml", ".yml")):
        document = _load(Path(name_or_file))
    else:
        with _session() as session:
            document = document_of(current_version(session, get_survey(session, name_or_file)))
    out.mkdir(parents=True, exist_ok=True)
    for index in range(len(document.pages)):
        target = out / f"{document.name}-{language}-page{index + 1}.html"
        target.write_text(preview_html(document, language, index, sender=settings().postal_address),
                          encoding="utf-8")
        console.print(f"Page {index + 1}: {target}")


@app.command()
def close(name: str) -> None:
    """Stop taking answers: links show a "survey closed" page; results stay."""
    with _session() as session:
        close_survey(session, get_survey(session, name))
    console.print(f"Survey [bold]{name}[/] closed.")


@app.command()
def reopen(name: str) -> None:
    """Take answers again (until the document's closes_at)."""
    with _session() as session:
        reopen_survey(session, get_survey(session, name))
    console.print(f"Survey [bold]{name}[/] open again.")


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"--since takes a date like 2026-11-01, not {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _write_csv(rows: Iterator[list[Any]], output: Path | None) -> int:
    """Write the header and rows to `output` (stdout when None); returns how many data rows."""
    handle = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    written = -1
    try:
        writer = csv.writer(handle)
        for row in rows:
            writer.writerow(row)
            written += 1
    finally:
        if output:
            handle.close()
    return max(written, 0)


@app.command()
def results(
    name: str,
    as_json: bool = JSON,
    as_csv: bool = typer.Option(False, "--csv", help="Export every response (one row each, text answers included)."),
    segment: str | None = typer.Option(None, "--segment", help="Only the members of this segment."),
    since: str | None = typer.Option(None, "--since", help="Only invitations and responses from this date."),
    language: str = typer.Option("en", "--lang", help="Language of question texts and labels (fr or en)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the CSV to this file."),
) -> None:
    """Invited, delivered, opened, started, completed and response rate; each question's distribution; NPS and
    CSAT with 95 % intervals; the weekly trend; breakdowns by segment, channel and language; text answers."""
    moment = _since(since)
    with _session() as session:
        if as_csv:
            written = _write_csv(response_rows(session, name, segment=segment, since=moment), output)
            if output:
                console.print(f"{written:,} responses written to {output}.")
            return
        found = survey_results(session, name, segment=segment, since=moment, language=language)
    if as_json:
        print_json(found.as_dict())
        return
    print_results(console, found)
