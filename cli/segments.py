"""`relance segment` commands: define, count, preview, refresh and explain segments; RFM and clusters."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any, TypeVar

import typer
import yaml
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree
from sqlalchemy.orm import Session

from cli.common import console, err_console, fail, print_json, refusing_session
from segments import SegmentDefinitionError, load_definition
from segments.explain import Explanation, explain
from segments.refresh import RefreshResult, refresh_all, refresh_segment
from segments.rfm import compute_rfm
from segments.service import (
    SegmentNotFound,
    add_members,
    count,
    create_segment,
    delete_segment,
    get_segment,
    keys_from_csv,
    list_segments,
    preview,
    remove_members,
)

LANGUAGE_HELP = (
    "Define, count, refresh and explain segments; RFM scores and clusters.\n\n"
    "A definition is a YAML (or JSON) file: `name`, optional `description`, `kind` (dynamic | static), `match` "
    "(all | any) and `conditions`, which nest with `all: [...]`, `any: [...]` and `not: {...}`. Conditions:\n\n"
    "• {field: country, op: eq, value: FR} — fields: contact columns, attributes.<name>, account.<field>; ops: eq ne "
    "in not_in contains starts_with ends_with gt gte lt lte between is_set is_not_set, and on dates before after "
    "within (30d, 12h, 2w, 6m, 1y) within_next older_than anniversary_within (birthdays, in the contact's time "
    "zone)\n\n"
    "• {event: email.clicked, within: 30d, where: {url: {contains: pricing}}, count: {gte: 2}} — behaviour; "
    "count: {eq: 0} means did not; also after/before dates and campaign\n\n"
    "• {tag: vip} · {segment: other-segment} · {lifecycle_stage: [lead, mql]} · {score: {gte: 50}} · "
    "{grade: [A, B]} · {reachable: email|sms|mail} · {survey: nps-2026, status: invited|started|completed} "
    "(invited = sent, not answered yet: the reminder audience)\n\n"
    "Examples: examples/segments/*.yaml. A bad definition exits with code 2 and names the path of each bad node."
)
app = typer.Typer(help=escape(LANGUAGE_HELP), no_args_is_help=True)
T = TypeVar("T")
JSON = typer.Option(False, "--json", help="Machine-readable output.")


def _session() -> Any:
    """A committed session; bad definitions exit 2 with the path of the offending node, unknown names exit 1."""
    return refusing_session(SegmentDefinitionError, "segment definition", (SegmentNotFound, LookupError, ValueError))


def _working(message: str, quiet: bool) -> Any:
    """A spinner on stderr while long work runs (nothing with --json or when not on a terminal)."""
    return nullcontext() if quiet or not err_console.is_terminal else err_console.status(message, spinner="dots")


def _target(session: Session, name_or_file: str) -> Any:
    """A stored segment by name, or an unsaved definition from a .yaml/.yml/.json file."""
    path = Path(name_or_file)
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        if not path.exists():
            raise LookupError(f"no such file: {path}")
        return load_definition(path)
    return get_segment(session, name_or_file)


@app.command("create")
def create(
    file: Path = typer.Argument(..., help="Definition file (.yaml or .json); its `name` or file name names it."),
    replace: bool = typer.Option(False, "--replace", help="Update the segment if it already exists."),
    refresh: bool = typer.Option(True, "--refresh/--no-refresh", help="Materialise members right away."),
    as_json: bool = JSON,
) -> None:
    """Create (or with --replace update) a segment from a definition file."""
    with _session() as session:
        if not file.exists():
            raise LookupError(f"no such file: {file}")
        definition = load_definition(file)
        name = definition.name or file.stem
        segment = create_segment(session, name, definition if definition.kind == "dynamic" else None,
                                 kind=definition.kind, description=definition.description, replace=replace)
        result = refresh_segment(session, segment) if refresh else None
        summary = {"segment": segment.name, "kind": segment.kind, "size": result.size if result else None}
    if as_json:
        print_json(summary)
    else:
        console.print(f"Segment [bold]{summary['segment']}[/] saved ({summary['kind']}); size {summary['size']}.")


@app.command("list")
def list_(as_json: bool = JSON) -> None:
    """Every segment with its kind, size and last refresh."""
    with _session() as session:
        segments = list_segments(session)
    if as_json:
        print_json([{"name": s.name, "kind": s.kind, "size": s.size, "refreshed_at": s.refreshed_at,
                     "description": s.description} for s in segments])
        return
    table = Table("name", "kind", "size", "refreshed", "description", title="Segments")
    for s in segments:
        refreshed = s.refreshed_at.strftime("%Y-%m-%d %H:%M") if s.refreshed_at else "never"
        table.add_row(s.name, s.kind, f"{s.size:,}", refreshed, s.description or "")
    console.print(table)


@app.command("show")
def show(name: str = typer.Argument(..., help="Segment name."), as_json: bool = JSON) -> None:
    """Print a segment's stored definition as YAML (the file `segment create` takes), or JSON."""
    with _session() as session:
        segment = get_segment(session, name)
        stored = {"name": segment.name, "kind": segment.kind, "description": segment.description,
                  **segment.definition}
    stored = {key: value for key, value in stored.items() if value is not None}
    if as_json:
        print_json(stored)
    else:
        typer.echo(yaml.safe_dump(stored, sort_keys=False, allow_unicode=True))


@app.command("delete")
def delete(
    name: str = typer.Argument(..., help="Segment name."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    as_json: bool = JSON,
) -> None:
    """Delete a segment and its memberships (the timeline keeps its entered/exited events)."""
    if not yes:
        if as_json:
            raise fail("deletion not confirmed (pass --yes)")
        typer.confirm(f"Delete segment {name!r}?", abort=True)
    with _session() as session:
        delete_segment(session, name)
    if as_json:
        print_json({"segment": name, "deleted": True})
    else:
        console.print(f"Segment [bold]{name}[/] deleted.")


@app.command("count")
def count_(
    target: str = typer.Argument(..., help="Segment name, or a definition file to preview without saving."),
    as_json: bool = JSON,
) -> None:
    """How many contacts match now (evaluated live)."""
    with _session() as session:
        found = _target(session, target)
        size = count(session, found)
    if as_json:
        print_json({"target": target, "count": size})
    else:
        console.print(f"[bold]{size:,}[/] contacts match {target}.")


@app.command("preview")
def preview_(
    target: str = typer.Argument(..., help="Segment name or definition file."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many contacts to show."),
    as_json: bool = JSON,
) -> None:
    """The first matching contacts."""
    with _session() as session:
        rows = preview(session, _target(session, target), limit=limit)
    if as_json:
        print_json(rows)
        return
    table = Table(*(rows[0].keys() if rows else ["id"]), title=f"{target}: first {len(rows)}")
    for row in rows:
        table.add_row(*("" if value is None else str(value) for value in row.values()))
    console.print(table)


def _refresh_table(results: list[RefreshResult]) -> Table:
    table = Table("segment", "size", "entered", "exited", "seconds", title="Refreshed")
    for result in results:
        table.add_row(result.segment, f"{result.size:,}", f"+{result.entered:,}", f"-{result.exited:,}",
                      f"{result.seconds:.2f}")
    return table


@app.command("refresh")
def refresh(
    name: str | None = typer.Argument(None, help="Segment to refresh (omit with --all)."),
    all_: bool = typer.Option(False, "--all", help="Refresh every dynamic segment, dependencies first."),
    as_json: bool = JSON,
) -> None:
    """Recompute members, logging segment.entered / segment.exited events."""
    if (name is None) == (not all_):
        raise fail("give a segment NAME or --all", code=2)
    with _session() as session, _working("Refreshing segments…", as_json):
        results = refresh_all(session) if all_ else [refresh_segment(session, name or "")]
    if as_json:
        print_json([result.as_dict() for result in results])
    else:
        console.print(_refresh_table(results))


def _tree(node: Explanation, tree: Tree | None = None) -> Tree:
    mark = "[green]✔ met[/]" if node.met else "[red]✘ failed[/]"
    label = f"{mark}  {escape(node.label)}" + (f"  [dim]{escape(node.path)}[/]" if node.path else "")
    branch = Tree(label) if tree is None else tree.add(label)
    for child in node.children:
        _tree(child, branch)
    return branch


@app.command("explain")
def explain_(
    name: str = typer.Argument(..., help="Segment name."),
    contact: str = typer.Argument(..., help="Contact email or id."),
    as_json: bool = JSON,
) -> None:
    """Which conditions the contact meets and which it fails."""
    with _session() as session:
        result = explain(session, name, contact)
    if as_json:
        print_json(result.as_dict())
    else:
        console.print(_tree(result))


def _members(name: str, keys: list[str], csv_file: Path | None, change: Callable[..., int], verb: str,
             as_json: bool) -> None:
    with _session() as session:
        source: Any = keys_from_csv(csv_file) if csv_file else keys
        changed = change(session, name, source)
        size = get_segment(session, name).size
    if as_json:
        print_json({"segment": name, verb: changed, "size": size})
    else:
        console.print(f"{verb.capitalize()} {changed:,} contacts; {name} now has {size:,}.")


@app.command("add")
def add(
    name: str = typer.Argument(..., help="Static segment name."),
    keys: list[str] = typer.Argument(None, help="Contact emails or ids."),
    csv_file: Path | None = typer.Option(None, "--csv", help="CSV with an email (or id) column."),
    as_json: bool = JSON,
) -> None:
    """Add contacts to a static segment."""
    _members(name, keys or [], csv_file, add_members, "added", as_json)


@app.command("remove")
def remove(
    name: str = typer.Argument(..., help="Static segment name."),
    keys: list[str] = typer.Argument(None, help="Contact emails or ids."),
    csv_file: Path | None = typer.Option(None, "--csv", help="CSV with an email (or id) column."),
    as_json: bool = JSON,
) -> None:
    """Remove contacts from a static segment."""
    _members(name, keys or [], csv_file, remove_members, "removed", as_json)


@app.command("rfm")
def rfm(as_json: bool = JSON) -> None:
    """Score customers on recency, frequency and monetary value (attributes rfm_r/f/m, rfm_segment)."""
    with _session() as session, _working("Scoring recency, frequency and monetary value…", as_json):
        groups = compute_rfm(session)
    if as_json:
        print_json([group.as_dict() for group in groups])
        return
    table = Table("rfm_segment", "customers", "avg orders", "avg spend", "R", "F", "M", title="RFM")
    for group in groups:
        table.add_row(group.segment, f"{group.customers:,}", f"{group.avg_orders:.1f}", f"{group.avg_spend:,.2f}",
                      f"{group.avg_r:.1f}", f"{group.avg_f:.1f}", f"{group.avg_m:.1f}")
    console.print(table)


@app.command("cluster")
def cluster(
    fields: str = typer.Option("", "--fields", help="Comma-separated numeric attributes to add to engagement."),
    k: int | None = typer.Option(None, "--k", min=2, help="Number of clusters (default: best silhouette)."),
    seed: int = typer.Option(42, help="Random seed."),
    as_json: bool = JSON,
) -> None:
    """KMeans clusters over engagement (+ attributes), written to attributes.cluster, with profiles."""
    from segments.clustering import cluster_contacts  # scikit-learn: loaded by this command only

    names = [name.strip().removeprefix("attributes.") for name in fields.split(",") if name.strip()]
    with _session() as session, _working("Clustering contacts…", as_json):
        result = cluster_contacts(session, names, k=k, seed=seed)
    if as_json:
        print_json(result.as_dict())
        return
    how = f"silhouette {result.silhouette}" if result.silhouette is not None else "k given"
    table = Table("cluster", "size", "what sets it apart", *result.features, title=f"{result.k} clusters ({how})")
    for profile in result.profiles:
        table.add_row(str(profile["cluster"]), f"{profile['size']:,}", profile["summary"],
                      *(f"{profile[f]:,.2f}" for f in result.features))
    console.print(table)
