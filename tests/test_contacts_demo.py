"""The contacts demo data: a realistic company written in bulk, and the shipped messy CSV import."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cli.demo.contacts import MESSY_CSV, write_company
from cli.demo.context import DemoContext
from cli.demo.data import Generator
from contacts.imports.pipeline import import_contacts
from core import clock
from core.models import Account, Consent, Contact, ContactEventStat, Conversion, Event, Suppression
from core.settings import Settings


def test_generated_company_has_a_learnable_conversion_signal(engine: Engine, session: Session) -> None:
    company = Generator(seed=7, now=clock.now(), contacts=600).build()
    counts = write_company(session, company)
    session.commit()
    assert counts["contacts"] == 600 and session.scalar(select(func.count()).select_from(Contact)) == 600
    assert session.scalar(select(func.count()).select_from(Account).where(Account.parent_id.is_not(None))) > 0
    postal_only = select(func.count()).select_from(Contact).where(Contact.email.is_(None), Contact.phone.is_(None))
    assert session.scalar(postal_only) >= 3
    assert session.scalar(select(func.count()).select_from(Suppression)) == counts["suppressions"] > 0
    statuses = dict(session.execute(select(Consent.status, func.count()).where(Consent.channel == "email")
                                    .group_by(Consent.status)).tuples().all())
    assert statuses["granted"] > 5 * statuses["withdrawn"]
    customers = set(session.scalars(select(Conversion.contact_id)))
    assert 0.05 < len(customers) / 600 < 0.35
    clicks = dict(session.execute(select(ContactEventStat.contact_id, ContactEventStat.count)
                                  .where(ContactEventStat.type == "email.clicked")).tuples().all())
    ids = set(session.scalars(select(Contact.id)))
    mean = lambda group: sum(clicks.get(i, 0) for i in group) / max(1, len(group))  # noqa: E731
    assert mean(customers) > 2 * mean(ids - customers)


def test_messy_csv_normalises_dedups_and_reports(engine: Engine, session: Session, tmp_path: Path) -> None:
    write_company(session, Generator(seed=1, now=clock.now(), contacts=60).build())
    session.commit()
    summary = import_contacts(engine, MESSY_CSV, report=tmp_path / "rejected.csv")
    assert (summary.encoding, summary.delimiter) == ("cp1252", ";")
    assert (summary.rows_read, summary.created, summary.updated, summary.merged, summary.rejected) == \
        (31, 13, 4, 4, 10)
    assert len((tmp_path / "rejected.csv").read_text(encoding="utf-8-sig").splitlines()) == 11
    elodie = session.scalars(select(Contact).where(Contact.email == "elodie.lefevre@boulangerie-lefevre.fr")).one()
    assert (elodie.phone, elodie.country, elodie.language) == ("+33612345678", "FR", "fr")
    again = import_contacts(engine, MESSY_CSV)
    assert (again.created, again.updated) == (0, 0)


def test_the_old_systems_events_come_along_under_their_source(engine: Engine, session: Session, settings: Settings,
                                                              tmp_path: Path) -> None:
    from cli.demo import history as demo_history

    import_contacts(engine, MESSY_CSV)
    console = Console(record=True, width=120)
    context = DemoContext(engine=engine, settings=settings, console=console, workdir=tmp_path)
    first_summary, again_summary = demo_history.run(context)
    first, again = first_summary.as_dict(), again_summary.as_dict()
    assert (first["rows_read"], first["recorded"], first["already_present"], first["rejected"]) == (7, 4, 1, 2)
    assert [(error["line"], error["column"]) for error in first["errors"]] == [(6, "email"), (7, "id")]
    assert (again["recorded"], again["already_present"], again["rejected"]) == (0, 5, 2)
    keys = session.scalars(select(Event.dedupe_key).where(Event.dedupe_key.like("import:mautic:%"))).all()
    assert sorted(keys) == [f"import:mautic:{number}" for number in (1, 2, 3, 4)]
    assert "Hugo Bernard's timeline now holds what mautic knew: email.opened, email.clicked." in console.export_text()
