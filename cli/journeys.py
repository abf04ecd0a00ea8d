"""`relance journey` commands: create (check + save the draft), publish (with --migrate), pause, resume, archive,
list, status, enroll, preview and advance (one tick now)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.definition import CampaignDefinitionError
from cli.common import console, engine, fail, print_json, settings
from cli.journey_views import print_preview, print_status, print_tick
from core import clock
from core.db import session_scope
from core.models import Contact
from journeys.language import JourneyDefinitionError, read_document
from journeys.preview import preview as preview_path
from journeys.service import (
    JourneyNotFound,
    JourneyStateError,
    archive_journey,
    enroll_now,
    ensure_enrollable,
    get_journey,
    list_journeys,
    pause_journey,
    resume_journey,
    save_draft,
    versions_of,
)
from journeys.status import enrollment_counts, journey_status
from journeys.tick import summarise, tick, unfinished
from journeys.triggers import keys_source, members_source
from journeys.versions import parse_mapping, publish
from segments.service import SegmentNotFound, chunks, get_segment, keys_from_csv, members_query
from templates.errors import TemplateError

HELP = (
    "Nurturing journeys: multi-step, event-driven sequences on the campaigns' ledger.\n\n"
    "A journey is a YAML file (examples/journeys/*.yaml): name, trigger (segment: NAME | event: TYPE with where: | "
    "date: FIELD with at: HH:MM | manual), re_entry (never | always | after: 90d), goal, exit_when, holdout, shared "
    "policies (quiet_hours, policies.frequency_cap, budget, costs, utm, topic) and steps, each with an id and one of "
    "send (channel or fallback, template per channel, variants), wait (2d | {until: '09:00', weekdays: [mon]} | "
    "{for_event: TYPE, timeout: 3d, on_event: STEP, on_timeout: STEP}), branch ([{if: CONDITION, goto: STEP}, "
    "{else: STEP}]), split ([{weight: 50, goto: STEP}]), update (set, add_tags, remove_tags, score, "
    "lifecycle_stage) or exit. Durations: s, m (minutes), h, d, w; days keep the contact's local time.\n\n"
    "create checks and saves a draft; publish freezes it as a version; `relance worker` (or advance) runs it."
)
app = typer.Typer(help=escape(HELP), no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Machine-readable output.")
NAME = typer.Argument(..., help="Journey name.")


@contextmanager
def _session() -> Iterator[Session]:
    """A committed session; a bad journey exits 2 naming each problem's path, other refusals exit 1."""
    try:
        with session_scope(engine()) as session:
            yield session
    except (JourneyDefinitionError, CampaignDefinitionError) as exc:
        raise fail(f"invalid journey: {exc}", code=2) from None
    except (JourneyNotFound, JourneyStateError, SegmentNotFound, TemplateError, ValueError) as exc:
        raise fail(str(exc)) from None


def _done(summary: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        print_json(summary)
    else:
        console.print(text)


@app.command("create")
def create(file: Path = typer.Argument(..., help="Journey file (.yaml or .json), e.g. "
                                                 "examples/journeys/lead-nurturing.yaml."),
           as_json: bool = JSON) -> None:
    """Check a journey (every problem named by its path) and save it as the draft; publish makes it run."""
    with _session() as session:
        journey, what = save_draft(session, read_document(file))
        name, live_version = journey.name, journey.current_version
        summary = {"journey": name, "status": journey.status, "draft": what, "live_version": live_version}
    live = f" (version {live_version} runs until you publish)" if live_version else ""
    _done(summary, as_json, f"Journey [bold]{escape(name)}[/]: draft {what}{live}. Next: "
                            f"[cyan]relance journey publish {escape(name)}[/].")


@app.command("publish")
def publish_command(
    name: str = NAME,
    migrate: str = typer.Option(None, "--migrate", help="Move active enrollments of older versions onto the new one: "
                                "old_step=new_step pairs (steps kept by id move by themselves; '' = only those); "
                                "a removed step must be mapped."),
    as_json: bool = JSON,
) -> None:
    """Freeze the draft as a new immutable version; new enrollments enter it, others stay where they are."""
    with _session() as session:
        result = publish(session, settings(), get_journey(session, name), migrate=parse_mapping(migrate))
    moved = sum(result.migrated.values())
    _done(result.as_dict(), as_json, f"[bold]{escape(name)}[/] version {result.version} published ({result.status});"
                                     f" {len(result.campaigns)} send steps" + (f", {moved:,} enrollments migrated"
                                                                              if moved else "") + ".")


@app.command("pause")
def pause(name: str = NAME, reason: str = typer.Option("paused by hand", "--reason"), as_json: bool = JSON) -> None:
    """Stop enrolling, moving and sending (events meanwhile are caught up on resume)."""
    with _session() as session:
        journey = pause_journey(session, get_journey(session, name), reason)
        summary = {"journey": journey.name, "status": journey.status}
    _done(summary, as_json, f"{escape(name)} paused.")


@app.command("resume")
def resume(name: str = NAME, as_json: bool = JSON) -> None:
    """Carry on a paused journey."""
    with _session() as session:
        journey = resume_journey(session, get_journey(session, name))
        summary = {"journey": journey.name, "status": journey.status}
    _done(summary, as_json, f"{escape(name)} is live again.")


@app.command("archive")
def archive(name: str = NAME, yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
            as_json: bool = JSON) -> None:
    """End the journey: active enrollments exit, unsent messages are cancelled; it can no longer change."""
    if not yes:
        typer.confirm(f"Archive journey {name}? Everyone in it leaves and unsent messages never go", abort=True)
    with _session() as session:
        ended = archive_journey(session, get_journey(session, name))
    _done({"journey": name, "status": "archived", "enrollments_ended": ended}, as_json,
          f"{escape(name)} archived ({ended:,} enrollments ended).")


@app.command("list")
def list_command(as_json: bool = JSON) -> None:
    """Every journey with its status, live version and enrollments."""
    with _session() as session:
        counts = enrollment_counts(session)
        rows: list[dict[str, Any]] = []
        for journey in list_journeys(session):
            mine = counts.get(journey.id, {})
            rows.append({"journey": journey.name, "status": journey.status, "version": journey.current_version,
                         "versions": len(versions_of(session, journey.id)), "enrolled": sum(mine.values()),
                         "active": mine.get("active", 0), "converted": mine.get("converted", 0),
                         "trigger": _trigger(journey)})
    if as_json:
        print_json(rows)
        return
    table = Table("journey", "status", "version", "trigger", "enrolled", "active", "converted", title="Journeys")
    for row in rows:
        table.add_row(escape(row["journey"]), row["status"], f"v{row['version']}" if row["version"] else "draft",
                      escape(row["trigger"]), f"{row['enrolled']:,}", f"{row['active']:,}", f"{row['converted']:,}")
    console.print(table)


def _trigger(journey: Any) -> str:
    trigger = journey.draft.get("trigger")
    if isinstance(trigger, dict):
        return ", ".join(f"{key}: {value}" for key, value in trigger.items())
    return str(trigger)


@app.command("status")
def status(name: str = NAME, as_json: bool = JSON) -> None:
    """Per step: waiting, passed, sent, failed, exited by goal or reason; conversions and revenue."""
    with _session() as session:
        report = journey_status(session, get_journey(session, name))
    if as_json:
        print_json(report.as_dict())
        return
    print_status(console, report)


@app.command("enroll")
def enroll_command(
    name: str = NAME,
    file: Path = typer.Argument(None, help="CSV of contacts (an email or id column)."),
    segment: str = typer.Option(None, "--segment", help="Enroll the members of this segment."),
    as_json: bool = JSON,
) -> None:
    """Add contacts now (a `manual` journey's way in; also works to backfill any journey)."""
    if (file is None) == (segment is None):
        raise fail("give a CSV file or --segment NAME")
    occurrence = f"manual:{clock.now().isoformat()}"
    entered = 0
    with _session() as session:
        journey = get_journey(session, name)
        ensure_enrollable(journey)
        if segment is not None:
            entered = enroll_now(session, settings(), journey, members_source(
                members_query(session, get_segment(session, segment)), occurrence))
        else:
            if not file.exists():
                raise ValueError(f"no such file: {file}")
            for keys in chunks(keys_from_csv(file)):
                entered += enroll_now(session, settings(), journey, keys_source(keys, occurrence))
    _done({"journey": name, "enrolled": entered}, as_json,
          f"{entered:,} contacts entered {escape(name)} (already there or barred by re_entry: skipped).")


@app.command("preview")
def preview(name: str = NAME, contact: str = typer.Option(..., "--contact", help="The contact's email (or id)."),
            as_json: bool = JSON) -> None:
    """The path this contact would take through the live version today, and why at each branch."""
    with _session() as session:
        found = session.scalars(select(Contact).where(Contact.email == contact.strip().lower())).first()
        if found is None and contact.isdigit():
            found = session.get(Contact, int(contact))
        if found is None:
            raise ValueError(f"no contact {contact!r}")
        result = preview_path(session, settings(), get_journey(session, name), found)
    if as_json:
        print_json(result.as_dict())
        return
    print_preview(console, result)


@app.command("advance")
def advance(
    journey: str = typer.Option(None, "--journey", help="Only this journey."),
    until_idle: bool = typer.Option(False, "--until-idle", help="Tick again while ticks do something."),
    until_done: bool = typer.Option(False, "--until-done", help="Tick until every enrollment of the live journeys "
                                    "has finished and their messages are settled (waits included)."),
    every: float = typer.Option(None, "--every", help="Seconds between ticks (with --until-done: between idle "
                                "ticks, default 1); alone: tick forever at that pace."),
    as_json: bool = JSON,
) -> None:
    """Run one tick now: enroll from triggers, advance what is due, dispatch what became sendable. Any number of
    workers may run at once (claims are exclusive); `relance worker` runs the same tick on a schedule."""
    reports = []
    while True:
        report = tick(engine(), settings(), journey=journey)
        reports.append(report)
        if not as_json:
            print_tick(console, report)
        if until_done:
            if not unfinished(engine(), journey):
                break
            if not report.busy:
                time.sleep(every if every is not None else 1.0)
            continue
        if every is not None:
            time.sleep(every)
            continue
        if not (until_idle and report.busy):
            break
    if as_json:
        looping = until_done or until_idle or every is not None
        print_json(summarise(reports) if looping else reports[-1].as_dict())
