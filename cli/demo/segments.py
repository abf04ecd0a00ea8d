"""Demo step: RFM, the example segments refreshed with their sizes, an explanation, and clusters."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.tree import Tree
from sqlalchemy import exists, select

from cli.demo.context import EXAMPLES as DEMO_EXAMPLES
from cli.demo.context import DemoContext
from core.db import session_scope
from core.models import Contact, SegmentMembership
from segments.clustering import cluster_contacts
from segments.compiler import segment_references
from segments.explain import Explanation, explain
from segments.language import load_definition
from segments.refresh import refresh_all
from segments.rfm import compute_rfm
from segments.service import count, create_segment, get_segment

EXAMPLES = DEMO_EXAMPLES / "segments"


def _rfm(context: DemoContext) -> None:
    with session_scope(context.engine) as session:
        groups = compute_rfm(session)
    table = Table("rfm_segment", "customers", "avg orders", "avg spend", title="RFM (from conversions)")
    for group in groups:
        table.add_row(group.segment, f"{group.customers:,}", f"{group.avg_orders:.1f}", f"{group.avg_spend:,.2f}")
    context.console.print(table if groups else "[yellow]No conversions yet: RFM attributes not written.[/]")


def _define_and_refresh(context: DemoContext) -> dict[str, int]:
    definitions = [load_definition(path) for path in sorted(EXAMPLES.glob("*.yaml"))]
    with session_scope(context.engine) as session:
        pending = list(definitions)
        while pending:  # segments that refer to others are saved once those exist
            saved = []
            for definition in pending:
                if all(_exists(session, ref) for ref in segment_references(definition.to_json())):
                    create_segment(session, definition.name or "", definition, kind=definition.kind, replace=True)
                    saved.append(definition)
            if not saved:
                raise RuntimeError(f"unresolvable segment references in {[d.name for d in pending]}")
            pending = [definition for definition in pending if definition not in saved]
        results = refresh_all(session)
    table = Table("segment", "members", "entered", "seconds", "description", title="Segments (examples/segments)")
    descriptions = {definition.name: definition.description or "" for definition in definitions}
    for result in results:
        table.add_row(result.segment, f"{result.size:,}", f"+{result.entered:,}", f"{result.seconds:.2f}",
                      descriptions.get(result.segment, ""))
    context.console.print(table)
    return {result.segment: result.size for result in results}


def _exists(session: Any, name: str) -> bool:
    try:
        get_segment(session, name)
    except LookupError:
        return False
    return True


def _tree(node: Explanation, parent: Tree | None = None) -> Tree:
    label = ("[green]✔[/] " if node.met else "[red]✘[/] ") + escape(node.label)
    branch = Tree(label) if parent is None else parent.add(label)
    for child in node.children:
        _tree(child, branch)
    return branch


def _explain_someone(context: DemoContext, name: str) -> None:
    """Explain one member and one non-member of the segment."""
    with session_scope(context.engine) as session:
        segment = get_segment(session, name)
        in_segment = exists().where(SegmentMembership.segment_id == segment.id,
                                    SegmentMembership.contact_id == Contact.id)
        member = session.scalar(select(Contact.id).where(in_segment).order_by(Contact.id).limit(1))
        outsider = session.scalar(select(Contact.id).where(~in_segment, Contact.country == "FR").order_by(Contact.id)
                                  .limit(1))
        shown = [(contact_id, _tree(explain(session, segment, contact_id)))
                 for contact_id in (member, outsider) if contact_id is not None]
    for contact_id, tree in shown:
        context.console.print(Panel(tree, title=f"relance segment explain {name} {contact_id}"))


def _clusters(context: DemoContext) -> None:
    with session_scope(context.engine) as session:
        try:  # the demo company's contacts carry their company size as a custom attribute
            result = cluster_contacts(session, ["company_size"], k=None, seed=context.seed)
        except ValueError:
            result = cluster_contacts(session, [], k=None, seed=context.seed)
    tried = ", ".join(f"k={k}: {score:.2f}" for k, score in result.tried.items())
    table = Table("cluster", "size", "what sets it apart", *result.features,
                  title=f"KMeans clusters on {', '.join(result.features)} (k={result.k}, best silhouette)",
                  caption=f"silhouette {tried}")
    for profile in result.profiles:
        table.add_row(str(profile["cluster"]), f"{profile['size']:,}", profile["summary"],
                      *(f"{profile[f]:,.1f}" for f in result.features))
    context.console.print(table)


def run(context: DemoContext) -> dict[str, int]:
    """Define the example segments on the demo company, refresh them, explain one member, RFM and clusters;
    returns each segment's size."""
    context.console.rule("[bold]Segments")
    _rfm(context)
    sizes = _define_and_refresh(context)
    with session_scope(context.engine) as session:
        preview = count(session, {"conditions": [{"field": "country", "op": "eq", "value": "FR"},
                                                 {"reachable": "email"}]})
    context.console.print(f"Unsaved definition preview — French contacts reachable by email: [bold]{preview:,}[/]")
    _explain_someone(context, "engaged-french-leads")
    try:
        _clusters(context)
    except ValueError as exc:
        context.console.print(f"[yellow]Clustering skipped: {exc}[/]")
    return sizes
