"""Demo step: generate a realistic company in bulk, then import a messy French CSV (normalise, dedup, report)."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cli.demo.context import EXAMPLES as DEMO_EXAMPLES
from cli.demo.context import DemoContext
from cli.demo.data import DemoCompany, Generator
from contacts.consent import suppress
from contacts.imports.pipeline import ImportSummary, import_contacts
from contacts.normalise import account_key
from contacts.timeline import NewEvent, record_events
from core import clock
from core.bulk import Bulk
from core.db import session_scope
from core.models import Contact, Conversion, Event

EXAMPLES = DEMO_EXAMPLES
MESSY_CSV = EXAMPLES / "contacts_messy.csv"
CONTACT_COLUMNS = ("external_id", "email", "phone", "first_name", "last_name", "company", "job_title", "language",
                   "country", "timezone", "birth_date", "address_line1", "postcode", "city", "source", "utm_source",
                   "utm_medium", "utm_campaign", "lifecycle_stage", "attributes", "email_status", "created_at")


def run(context: DemoContext) -> None:
    """Generate the demo company (unless the database already has contacts) and import the messy CSV."""
    console = context.console
    console.rule("[bold]Contacts: demo company and messy import")
    started = time.perf_counter()
    with session_scope(context.engine) as session:
        existing = session.scalar(select(func.count()).select_from(Contact)) or 0
        generated = write_company(session, Generator(context.seed, clock.now()).build()) if not existing else {}
    if generated:
        console.print(f"Generated the demo company in {time.perf_counter() - started:.1f} s.")
    else:
        console.print(f"[dim]{existing:,} contacts already present: generation skipped.[/]")
    report = context.workdir / "contacts_messy_rejected.csv"
    summary = import_contacts(context.engine, MESSY_CSV, report=report,
                              default_region=context.settings.default_region)
    with session_scope(context.engine) as session:
        totals = _totals(session)
    _print(context, generated, summary, totals)


def write_company(session: Session, company: DemoCompany) -> dict[str, Any]:
    """Write a generated company with bulk statements; returns counts."""
    accounts = _write_accounts(session, company.accounts)
    contacts = _write_contacts(session, company.contacts, accounts)
    consents = _write_consents(session, company.consents, contacts)
    for channel, address, reason in company.suppressions:
        suppress(session, channel, address, reason, source="demo")
    record_events(session, (
        NewEvent(item["type"], f"demo:{index}", contacts[item["external_id"]], item["occurred_at"],
                 properties=item["properties"]) for index, item in enumerate(company.events)))
    revenue = _write_conversions(session, company.conversions, contacts)
    return {"accounts": len(set(accounts.values())), "contacts": len(contacts), "consents": consents,
            "suppressions": len(company.suppressions), "events": len(company.events) + consents + len(
                company.conversions), "conversions": len(company.conversions), "revenue_eur": revenue}


def _write_accounts(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Account id by generated key; groups first so subsidiaries can point at them."""
    ids: dict[str, int] = {}
    bulk = Bulk(session)
    now = clock.now()
    columns = ("name", "name_key", "domain", "industry", "size", "country", "city", "parent_id", "attributes",
               "created_at", "updated_at")
    for groups in (True, False):
        level = [row for row in rows if row["key"].startswith("G") == groups]
        values: list[tuple[Any, ...]] = [
            (row["name"], account_key(row["name"]), row["domain"], row["industry"], row["size"], row["country"],
             row["city"], ids.get(row["parent"] or ""), {}, now, now) for row in level
        ]
        returned = dict(bulk.insert("accounts", columns, values, returning="name_key, id"))
        ids.update({row["key"]: returned[account_key(row["name"])] for row in level})
    return ids


def _write_contacts(session: Session, rows: list[dict[str, Any]], accounts: dict[str, int]) -> dict[str, int]:
    now = clock.now()
    values = []
    for row in rows:
        prepared = {**row, "email_status": row.get("email_status") or ("valid" if row["email"] else "unknown")}
        values.append((*(prepared.get(name) for name in CONTACT_COLUMNS), accounts.get(row["account_key"] or ""),
                       now, "valid" if row.get("address_line1") else "unknown",
                       "valid" if row["phone"] else "unknown", 0))
    columns = (*CONTACT_COLUMNS, "account_id", "updated_at", "mail_status", "sms_status", "score")
    return dict(Bulk(session).insert("contacts", columns, values, returning="external_id, id"))


def _write_consents(session: Session, rows: list[dict[str, Any]], contacts: dict[str, int]) -> int:
    columns = ("contact_id", "channel", "topic", "status", "source", "form", "wording_version", "ip", "occurred_at")
    values = [(contacts[row["external_id"]], row["channel"], "marketing", row["status"], row["source"], row["form"],
               row["wording_version"], row["ip"], row["occurred_at"]) for row in rows]
    Bulk(session).insert("consents", columns, values)
    record_events(session, (
        NewEvent("consent.changed", f"consent:{value[0]}:{value[1]}:marketing:{value[3]}:{value[8].isoformat()}",
                 value[0], value[8], properties={"channel": value[1], "topic": "marketing", "status": value[3],
                                                 "source": value[4], "form": value[5], "wording_version": value[6],
                                                 "ip": value[7], "user_agent": None})
        for value in values))
    return len(values)


def _write_conversions(session: Session, rows: list[dict[str, Any]], contacts: dict[str, int]) -> str:
    now = clock.now()
    columns = ("contact_id", "amount", "currency", "occurred_at", "kind", "external_ref", "properties", "created_at")
    values = [(contacts[row["external_id"]], row["amount"], "EUR", row["occurred_at"], "purchase",
               row["external_ref"], {"source": "demo"}, now) for row in rows]
    Bulk(session).insert("conversions", columns, values)
    record_events(session, (
        NewEvent("conversion", f"conversion:{row['external_ref']}", contacts[row["external_id"]], row["occurred_at"],
                 properties={"amount": str(row["amount"]), "currency": "EUR", "external_ref": row["external_ref"]},
                 value=row["amount"]) for row in rows))
    return str(sum((row["amount"] for row in rows), start=0))


def _totals(session: Session) -> dict[str, Any]:
    live = Contact.erased_at.is_(None)
    return {
        "contacts_total": session.scalar(select(func.count()).select_from(Contact).where(live)) or 0,
        "customers": session.scalar(select(func.count()).select_from(Contact)
                                    .where(live, Contact.lifecycle_stage == "customer")) or 0,
        "events_total": session.scalar(select(func.count()).select_from(Event)) or 0,
        "revenue_eur": str(session.scalar(select(func.coalesce(func.sum(Conversion.amount), 0))) or 0),
    }


def _rows(table: Table, rows: Iterable[tuple[str, Any]]) -> Table:
    for label, value in rows:
        table.add_row(label, f"{value:,}" if isinstance(value, int) else str(value))
    return table


def _print(context: DemoContext, generated: dict[str, Any], summary: ImportSummary, totals: dict[str, Any]) -> None:
    console = context.console
    if generated:
        table = Table(title="Generated demo company")
        table.add_column("what")
        table.add_column("count", justify="right")
        console.print(_rows(table, generated.items()))
    table = Table(title=f"Import of {MESSY_CSV.name} ({summary.encoding}, delimiter {summary.delimiter!r})")
    for column in ("rows read", "created", "updated", "unchanged", "merged (duplicates)", "rejected"):
        table.add_column(column, justify="right")
    table.add_row(*(str(value) for value in (summary.rows_read, summary.created, summary.updated, summary.unchanged,
                                             summary.merged, summary.rejected)))
    console.print(table)
    errors = Table(title=f"Rejected rows → {summary.report}")
    for column in ("line", "column", "value", "reason"):
        errors.add_column(column)
    for error in summary.error_samples[:12]:
        errors.add_row(str(error["line"]), error["column"], error["value"], error["reason"][:70])
    console.print(errors)
    with MESSY_CSV.open(encoding="cp1252", newline="") as handle:
        sample = list(csv.DictReader(handle, delimiter=";"))[:3]
    with session_scope(context.engine) as session:
        normalised = Table(title="Normalisation (file → database)")
        for column in ("courriel", "téléphone", "pays", "→ email", "→ phone", "→ country"):
            normalised.add_column(column)
        for raw in sample:
            contact = session.scalars(select(Contact).where(Contact.email == raw["Courriel"].strip().lower())).first()
            if contact is not None:
                normalised.add_row(raw["Courriel"], raw["Téléphone"], raw["Pays"], contact.email or "",
                                   contact.phone or "", contact.country or "")
        console.print(normalised)
    console.print(f"Database now holds [bold]{totals['contacts_total']:,}[/] contacts, "
                  f"{totals['customers']:,} customers, {totals['events_total']:,} events, "
                  f"revenue {Decimal(str(totals['revenue_eur'])):,.2f} EUR.")
